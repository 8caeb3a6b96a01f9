"""Rules engine speed: compiled rule conditions vs the same conditions hand-written in Python.

    .venv/bin/python bench/rules.py [--events N] [--repeat R] [--seed S]

For 10 and 100 rules (variants of the default pack's conditions, loaded from YAML
like any rule file) on realistic facts of a seeded shop, prints in one run:

- conditions evaluated per second: every rule's condition called on facts of its
  triggers, by the engine's compiled function and by a hand-written Python
  function of the same condition (constants inlined, facts read with ``f[...]``);
- events per second through ``RuleSet.evaluate`` (trigger index, dedup/cooldown
  store, decision records), once with the compiled conditions and once with the
  hand-written ones swapped in, so only the conditions differ.

Best of R runs, one core. Figures, no pass/fail: targets are >= 0.5x the
hand-written speed per condition and >= 50,000 events/s with 100 rules.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name would hide the package.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

from rules import MemoryStore, RuleSet, load_rules  # noqa: E402

#: (triggers, condition in the rule language, the same in Python over ``f``); {a} and {b} are thresholds.
TEMPLATES: list[tuple[str, str, str]] = [
    (
        "review",
        'review_label == "negative" and review_score <= {a} and default(review_rating, 1) <= 2',
        'f["review_label"] == "negative" and f["review_score"] <= {a} and (f.get("review_rating") or 1) <= 2',
    ),
    (
        "review, tick",
        "sentiment_avg_24h - sentiment_avg_1h >= {a} and negative_share_1h >= 0.5 and sentiment_count_1h >= 5",
        'f["sentiment_avg_24h"] - f["sentiment_avg_1h"] >= {a} and f["negative_share_1h"] >= 0.5 and f["sentiment_count_1h"] >= 5',
    ),
    (
        "review, tick",
        "aspect_top_negative_1h >= {b} and aspect_top_negative_1h >= 3 * max(aspect_top_negative_hourly_24h, 1)",
        'f["aspect_top_negative_1h"] >= {b} and f["aspect_top_negative_1h"] >= 3 * max(f["aspect_top_negative_hourly_24h"], 1)',
    ),
    (
        "sale, product, tick",
        "units_24h * lead_time_days > stock + {b} and orders_24h >= 3",
        'f["units_24h"] * f["lead_time_days"] > f["stock"] + {b} and f["orders_24h"] >= 3',
    ),
    (
        "click, sale, tick",
        "views_1h >= {b} and views_1h >= 3 * views_24h / 24 and sentiment_avg_24h >= {a}",
        'f["views_1h"] >= {b} and f["views_1h"] >= 3 * f["views_24h"] / 24 and f["sentiment_avg_24h"] >= {a}',
    ),
    (
        "click, tick",
        "views_24h >= {b} and conversion_24h < {a}",
        'f["views_24h"] >= {b} and f["conversion_24h"] < {a}',
    ),
    (
        "sale",
        "anomaly_score >= {a} and orders_total >= 50",
        'f["anomaly_score"] >= {a} and f["orders_total"] >= 50',
    ),
    (
        "click",
        'click_action == "view" and user_product_views >= {b} and user_product_orders == 0',
        'f["click_action"] == "view" and f["user_product_views"] >= {b} and f["user_product_orders"] == 0',
    ),
    (
        "click",
        'click_action == "add_to_cart" and user_carts_abandoned >= {b}',
        'f["click_action"] == "add_to_cart" and f["user_carts_abandoned"] >= {b}',
    ),
    (
        "review",
        '"refund" in lower(review_text) and review_score < {a}',
        '"refund" in f["review_text"].lower() and f["review_score"] < {a}',
    ),
]
#: Thresholds per template, the first of each pair being the default pack's.
THRESHOLDS: list[list[tuple[float, int]]] = [
    [(-0.6 - 0.03 * i, 0) for i in range(10)],
    [(0.4 + 0.02 * i, 0) for i in range(10)],
    [(0, 5 + i) for i in range(10)],
    [(0, 10 * i) for i in range(10)],
    [(0.3 + 0.02 * i, 100 + 10 * i) for i in range(10)],
    [(0.005 - 0.0004 * i, 500 + 50 * i) for i in range(10)],
    [(0.9 + 0.005 * i, 0) for i in range(10)],
    [(0, 3 + i) for i in range(10)],
    [(0, 2 + i) for i in range(10)],
    [(-0.2 - 0.05 * i, 0) for i in range(10)],
]
MIX = [("click", 0.70), ("sale", 0.12), ("review", 0.10), ("tick", 0.06), ("product", 0.02)]
WORDS = ["great", "ok", "broken", "love it", "late delivery", "works", "as described", "Refund"]


def rule_yaml(count: int) -> tuple[str, dict[str, str]]:
    """``count`` rules as YAML, and rule id -> hand-written Python source of its condition."""
    rows, python = ["rules:"], {}
    for i in range(count):
        template = i % len(TEMPLATES)
        triggers, text, source = TEMPLATES[template]
        a, b = THRESHOLDS[template][i // len(TEMPLATES)]
        rule_id = f"r{i:03d}"
        python[rule_id] = source.format(a=a, b=b)
        rows += [
            f"  - id: {rule_id}",
            f"    description: variant {i // len(TEMPLATES)} of condition {template}",
            "    version: 1",
            f"    triggers: [{triggers}]",
            f"    when: '{text.format(a=a, b=b)}'",
            "    cooldown: 1h",
            "    then: {action: alert, params: {channel: bench}}",
            "    reason: 'rule " + rule_id + " on {product_id}'",
        ]
    return "\n".join(rows) + "\n", python


def hand_written(sources: dict[str, str]) -> dict[str, Callable[[Any], bool]]:
    """Each condition as a plain Python function ``def c(f): return <condition>``."""
    out = {}
    for rule_id, source in sources.items():
        namespace: dict[str, Any] = {}
        exec(f"def c(f):\n    return {source}\n", namespace)  # noqa: S102 - our own source
        out[rule_id] = namespace["c"]
    return out


def with_conditions(rules: RuleSet, functions: dict[str, Callable[[Any], bool]]) -> RuleSet:
    """The same rule set with each compiled condition swapped for ``functions[rule.id]``."""
    swapped = [
        replace(rule, condition=replace(rule.condition, function=functions[rule.id]))
        for rule in rules.rules
    ]
    return RuleSet(swapped, source=rules.source)


def make_facts(rng: random.Random, trigger: str, n: int) -> dict[str, Any]:
    """Realistic facts of one product (and user) on ``trigger``."""
    views_24h = int(rng.lognormvariate(5.5, 1.2))
    views_1h = int(views_24h / 24 * rng.lognormvariate(0, 0.8))
    orders_24h = int(views_24h * rng.uniform(0.0, 0.06))
    sent_24h = rng.uniform(-0.3, 0.8)
    facts: dict[str, Any] = {
        "event_id": f"{trigger}-{n}",
        "ts": 1_700_000_000.0 + n,
        "product_id": f"p{rng.randrange(2_000)}",
        "views_1h": views_1h,
        "views_24h": views_24h,
        "orders_24h": orders_24h,
        "orders_total": orders_24h * rng.randint(1, 60),
        "units_24h": int(orders_24h * rng.uniform(1, 1.5)),
        "conversion_24h": orders_24h / views_24h if views_24h else None,
        "sentiment_avg_24h": sent_24h,
        "sentiment_avg_1h": max(-1.0, min(1.0, sent_24h + rng.gauss(0, 0.3))),
        "sentiment_count_1h": rng.randint(0, 12),
        "negative_share_1h": rng.random() * 0.8,
        "aspect_top_negative_1h": int(rng.expovariate(0.6)),
        "aspect_top_negative_hourly_24h": rng.uniform(0, 4),
        "stock": rng.randint(0, 2_000),
        "lead_time_days": rng.uniform(1, 14),
        "anomaly_score": rng.betavariate(2, 8),
    }
    if trigger in ("review", "click", "sale"):
        facts |= {
            "user_id": f"u{rng.randrange(50_000)}",
            "user_product_views": int(rng.expovariate(1.2)),
            "user_product_orders": rng.choice((0, 0, 0, 1)),
            "user_carts_abandoned": int(rng.expovariate(1.5)),
        }
    if trigger == "review":
        score = rng.uniform(-1, 1)
        facts |= {
            "review_score": score,
            "review_label": "negative"
            if score < -0.2
            else "positive"
            if score > 0.2
            else "neutral",
            "review_rating": rng.choice((None, 1, 2, 3, 4, 5)),
            "review_text": " ".join(rng.choices(WORDS, weights=[5, 5, 2, 5, 2, 5, 5, 1], k=3)),
        }
    if trigger == "click":
        facts["click_action"] = rng.choice(("view", "view", "view", "add_to_cart", "favorite"))
    return facts


def make_events(seed: int, count: int) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    triggers, weights = zip(*MIX, strict=True)
    return [
        (t, make_facts(rng, t, n)) for n, t in enumerate(rng.choices(triggers, weights, k=count))
    ]


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def condition_rate(
    rules: RuleSet, events: list[tuple[str, dict[str, Any]]], repeat: int
) -> tuple[float, int]:
    """Conditions per second over ``events`` (each event against the rules of its trigger)."""
    work = [(facts, [r.condition.function for r in rules.rules_for(t)]) for t, facts in events]
    calls = sum(len(functions) for _, functions in work)

    def run() -> None:
        for facts, functions in work:
            for function in functions:
                function(facts)

    return calls / best(repeat, run), calls


def event_rate(
    rules: RuleSet, events: list[tuple[str, dict[str, Any]]], repeat: int
) -> tuple[float, int]:
    """Events per second through ``evaluate``, a fresh store per run; and decisions per run."""
    decided = [0]

    def run() -> None:
        store, evaluate, n = MemoryStore(), rules.evaluate, 0
        for trigger, facts in events:
            n += len(evaluate(trigger, facts, store, 1_700_000_000.0))
        decided[0] = n

    return len(events) / best(repeat, run), decided[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    events = make_events(args.seed, args.events)
    print(
        f"{args.events:,} events ({', '.join(f'{t} {w:.0%}' for t, w in MIX)}), best of {args.repeat}"
    )
    header = f"{'rules':>5} {'conds/event':>11} | {'conditions/s':>12} {'hand-written':>12} {'ratio':>5} | {'events/s':>9} {'hand-written':>12} {'ratio':>5} | decisions"
    print(header)
    for count in (10, 100):
        text, sources = rule_yaml(count)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.yaml"
            path.write_text(text, encoding="utf-8")
            started = time.perf_counter()
            compiled = load_rules(path)
            load_s = time.perf_counter() - started
        plain = with_conditions(compiled, hand_written(sources))
        c_rate, calls = condition_rate(compiled, events, args.repeat)
        h_rate, _ = condition_rate(plain, events, args.repeat)
        e_rate, decisions = event_rate(compiled, events, args.repeat)
        he_rate, plain_decisions = event_rate(plain, events, args.repeat)
        assert decisions == plain_decisions, "the hand-written conditions must decide alike"
        print(
            f"{count:>5} {calls / len(events):>11.1f} | {c_rate:>12,.0f} {h_rate:>12,.0f} {c_rate / h_rate:>5.2f} |"
            f" {e_rate:>9,.0f} {he_rate:>12,.0f} {e_rate / he_rate:>5.2f} | {decisions:,}"
            f"  (loaded in {load_s * 1000:.0f} ms)"
        )


if __name__ == "__main__":
    main()
