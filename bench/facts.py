"""Per-event cost of the rules' facts: product state update, facts, user activity.

    .venv/bin/python bench/facts.py [--events N] [--products P] [--users U] [--repeat R]

A seeded shop (70 % views and carts, 12 % sales, 10 % reviews, 6 % ticks,
2 % product updates over P products and U users, a day of event time) is first
played once to fill the windows; then, best of R, one core, it prints the
microseconds per event of each step the worker and the replica take:

- ``ProductState.apply`` (and the review's sentiment), what the processor did already;
- ``build_facts`` / ``tick_facts``, with user facts from ``UserActivity.facts``
  counting the event as pending (as ``FeedbackReplica.user_facts`` does, without
  the recommendations);
- ``UserActivity.learn_one``, what the replica adds per feedback record;
- ``ProductState.to_dict`` + ``from_dict``, paid once per product per batch;
- facts and the default rules on them, the facts built whole (``build_facts``) or as the
  worker builds them, each group when a rule first reads it (``lazy_facts``), with the ratio.

Figures, no pass/fail.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name would hide the package.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

from rules import DEFAULT_RULES, MemoryStore, RuleSet, load_rules  # noqa: E402
from streams.facts import build_facts, lazy_facts, tick_facts  # noqa: E402
from streams.schemas import ClickEvent, ProductEvent, ReviewEvent, SaleEvent  # noqa: E402
from streams.scoring import Sentiment  # noqa: E402
from streams.state import ProductState  # noqa: E402
from streams.users import UserActivity  # noqa: E402

T0 = 1_700_000_000.0
SENTIMENT = Sentiment(-0.4, "negative", 0.8, "bench")
VERSIONS = {"sentiment": "bench", "recommender": "bench"}


def workload(n: int, products: int, users: int, seed: int, start: float) -> list[Any]:
    """``n`` events (and ticks, as ``("tick", product, ts)``) over a day of event time."""
    rng, out = random.Random(seed), []
    for i in range(n):
        ts, pid, uid = (
            start + 86_400.0 * i / n,
            f"p{rng.randrange(products)}",
            f"u{rng.randrange(users)}",
        )
        r, eid = rng.random(), f"e{seed}-{i}"
        if r < 0.70:
            action = "view" if r < 0.6 else "add_to_cart"
            out.append(ClickEvent(event_id=eid, ts=ts, user_id=uid, product_id=pid, action=action))
        elif r < 0.82:
            out.append(
                SaleEvent(
                    event_id=eid,
                    ts=ts,
                    user_id=uid,
                    product_id=pid,
                    quantity=rng.randint(1, 3),
                    price=9.5,
                )
            )
        elif r < 0.92:
            out.append(
                ReviewEvent(event_id=eid, ts=ts, user_id=uid, product_id=pid, text="meh", rating=2)
            )
        elif r < 0.98:
            out.append(("tick", pid, ts))
        else:
            out.append(
                ProductEvent(
                    event_id=eid, ts=ts, product_id=pid, stock=500, price=9.5, lead_time_days=3.0
                )
            )
    return out


def apply_all(events: list[Any], states: dict[str, ProductState]) -> None:
    for e in events:
        if isinstance(e, tuple):
            continue
        state = states.setdefault(e.product_id, ProductState())
        state.apply(e)
        if isinstance(e, ReviewEvent):
            state.apply_sentiment(e.ts, SENTIMENT.score, True)


def facts_all(events: list[Any], states: dict[str, ProductState], users: UserActivity) -> None:
    for e in events:
        if isinstance(e, tuple):
            tick_facts(
                e[1], states[e[1]] if e[1] in states else ProductState(), e[2], versions=VERSIONS
            )
        elif isinstance(e, ProductEvent):
            build_facts("product", e, states[e.product_id], versions=VERSIONS)
        else:
            user = users.facts(e.user_id, e.product_id, e.ts, pending=e)
            trigger = (
                "click"
                if isinstance(e, ClickEvent)
                else "sale"
                if isinstance(e, SaleEvent)
                else "review"
            )
            sentiment = SENTIMENT if trigger == "review" else None
            build_facts(trigger, e, states[e.product_id], sentiment, user=user, versions=VERSIONS)


def decide_all(
    events: list[Any],
    states: dict[str, ProductState],
    users: UserActivity,
    rules: RuleSet,
    lazy: bool,
) -> None:
    """Facts of every event (not ticks), whole or lazy, and the rules evaluated on them."""
    store = MemoryStore()
    for e in events:
        if isinstance(e, tuple):
            continue
        trigger = TRIGGERS[type(e)]
        sentiment = SENTIMENT if trigger == "review" else None
        state = states[e.product_id]
        if lazy:
            user = None if trigger == "product" else _later(users, e)
            f: Any = lazy_facts(trigger, e, state, sentiment, user=user, versions=VERSIONS)
        else:
            known = (
                None
                if trigger == "product"
                else users.facts(e.user_id, e.product_id, e.ts, pending=e)
            )
            f = build_facts(trigger, e, state, sentiment, user=known, versions=VERSIONS)
        rules.evaluate(trigger, f, store, e.ts)


TRIGGERS = {ClickEvent: "click", SaleEvent: "sale", ReviewEvent: "review", ProductEvent: "product"}


def _later(users: UserActivity, e: Any) -> Callable[[], dict[str, Any]]:
    return lambda: users.facts(e.user_id, e.product_id, e.ts, pending=e)


def learn_all(events: list[Any], users: UserActivity) -> None:
    for e in events:
        if not isinstance(e, tuple):
            users.apply(e)


def best(repeat: int, run: Callable[[], None], n: int) -> float:
    """Best microseconds per event over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--products", type=int, default=1_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.events
    warm = workload(n, args.products, args.users, 1, T0)
    timed = workload(n, args.products, args.users, 2, T0 + 86_400.0)
    states: dict[str, ProductState] = {}
    users = UserActivity()
    apply_all(warm, states)
    learn_all(warm, users)
    snapshots = {pid: s.to_dict() for pid, s in states.items()}

    def fresh_apply() -> None:
        apply_all(timed, {pid: ProductState.from_dict(d) for pid, d in snapshots.items()})

    restore = best(
        args.repeat, lambda: [ProductState.from_dict(d) for d in snapshots.values()], len(snapshots)
    )
    apply_us = best(args.repeat, fresh_apply, n) - restore * len(snapshots) / n
    apply_all(timed, states)
    facts_us = best(args.repeat, lambda: facts_all(timed, states, users), n)
    learn_us = best(args.repeat, lambda: learn_all(timed, UserActivity()), n)
    dump = best(args.repeat, lambda: [s.to_dict() for s in states.values()], len(states))
    rules = load_rules(DEFAULT_RULES)
    eager_us = best(args.repeat, lambda: decide_all(timed, states, users, rules, False), n)
    lazy_us = best(args.repeat, lambda: decide_all(timed, states, users, rules, True), n)
    print(
        f"{n:,} events over {args.products:,} products, {args.users:,} users; best of {args.repeat}, one core"
    )
    print(f"  state update (apply)           {apply_us:6.2f} us/event")
    print(f"  facts (build_facts + user)     {facts_us:6.2f} us/event")
    print(f"  user activity (replica learn)  {learn_us:6.2f} us/event")
    print(f"  to_dict / from_dict            {dump:6.2f} / {restore:.2f} us per product and batch")
    print(f"  facts + default rules, whole   {eager_us:6.2f} us/event")
    print(
        f"  facts + default rules, lazy    {lazy_us:6.2f} us/event ({lazy_us / eager_us:.2f} x whole)"
    )


if __name__ == "__main__":
    main()
