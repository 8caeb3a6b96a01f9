"""The recommender's bounds: users and items past the caps are forgotten by every model,
deterministically, and the capped state survives snapshots."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from models.exceptions import InvalidParameterError, InvalidStateError
from models.reco import ItemCooccurrence, Recommender, digest, from_state, persist, to_state
from models.reco.table import FactorTable
from tests.models.test_reco import printed_under_hash_seeds

T0 = 1_700_000_000.0
CAPS: dict[str, Any] = {"max_users": 40, "max_items": 60}
ACTIONS = ["view", "view", "favorite", "add_to_cart", "remove_from_cart"]


def churn_log(n: int = 3_000, seed: int = 11) -> list[dict]:
    """Users and items that come and go (a sliding population), a few hot items, a long
    tail of items seen once, purchases, rated reviews and catalog records (stock, category)."""
    rng = random.Random(seed)
    records = []
    for t in range(n):
        user = f"u{max(0, t // 5 - rng.randrange(12))}"
        pick = rng.random()
        if pick < 0.5:
            item = f"p{max(0, t // 3 - rng.randrange(40))}"
        elif pick < 0.7:
            item = f"hot{rng.randrange(5)}"
        else:
            item = f"new{t}"
        event = {"event_id": f"e{t}", "ts": T0 + 30 * t, "user_id": user, "product_id": item}
        event["category_id"] = f"c{rng.randrange(7)}"
        kind = rng.random()
        if kind < 0.7:
            records.append({"topic": "clicks", "event": {**event, "action": rng.choice(ACTIONS)}})
        elif kind < 0.85:
            records.append({"topic": "sales", "event": event})
        elif kind < 0.95:
            review = {**event, "text": "", "rating": rng.randint(1, 5)}
            records.append({"topic": "reviews", "event": review})
        else:
            stock = {"stock": rng.choice([0, 5])}
            records.append({"topic": "products", "event": {**event, **stock}})
    return records


def capped(**params) -> Recommender:
    """A recommender with the test's caps, whose co-occurrence rows are pruned often (4
    partners kept of 6), so that evictions meet pruned rows."""
    rec = Recommender(**{**CAPS, **params})
    rec.cooc = ItemCooccurrence(max_neighbours=2, half_life=rec.half_life)
    return rec


def click(n: int, user: str, item: str) -> dict:
    event = {"event_id": f"c{n}", "ts": T0 + n, "user_id": user, "product_id": item}
    return {"topic": "clicks", "event": {**event, "action": "view"}}


def learned(records: list[dict], **params) -> Recommender:
    rec = capped(**params)
    for record in records:
        rec.learn(record)
    return rec


def check_reachable(co: ItemCooccurrence) -> None:
    """Every row, and every ``dropped`` set, that names ``a`` is in ``a``'s row or in its
    ``dropped`` (what :meth:`ItemCooccurrence.forget_item` visits), and names a live item."""
    reach = {a: row.keys() | co.dropped.get(a, set()) for a, row in co.pairs.items()}
    assert co.dropped.keys() <= co.pairs.keys()
    assert all(dropped <= co.pairs.keys() for dropped in co.dropped.values())
    for a in co.pairs:
        assert all(a in reach[j] for j in co.pairs[a])
        assert all(a in reach[j] for j in co.dropped.get(a, ()))


def check_bounds(rec: Recommender) -> None:
    """Every structure within the caps, and no id that the recency orders forgot."""
    users, items = set(rec.seen), set(rec.holders)
    assert len(users) <= rec.max_users and len(items) <= rec.max_items
    pop, co = rec.popular, rec.cooc
    by_user: list[Mapping[str, Any]] = [
        rec.last_category,
        co.recent,
        rec.mf.users.index,
        rec.rating.users.index,
    ]
    assert all(held.keys() <= users for held in [*by_user, pop._bought])
    by_item: list[Mapping[str, Any]] = [
        rec.category,
        co.mass,
        co.pairs,
        co.bought,
        pop._scores,
        pop._category,
    ]
    assert all(held.keys() <= items for held in [*by_item, rec.mf.items.index])
    assert rec.rating.items.index.keys() <= items
    assert rec.out_of_stock <= items
    for table in (rec.mf.users, rec.mf.items, rec.rating.users, rec.rating.items):
        assert table.ids == sorted(table.index, key=table.index.__getitem__)
    for a, row in co.pairs.items():
        assert row.keys() <= items and co.bought.get(a, set()) <= row.keys()
        assert len(row) <= 3 * co.max_neighbours
    check_reachable(co)
    for user, user_items in rec.seen.items():
        assert user_items <= items
        assert all(user in rec.holders[item] for item in user_items)
        assert {item for item, _, _ in co.recent.get(user, ())} <= user_items
        assert pop.purchases(user) <= user_items
    assert sum(map(len, rec.holders.values())) == sum(map(len, rec.seen.values()))


def test_every_structure_stays_within_the_caps_at_every_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compacted: list[str] = []
    compact = ItemCooccurrence._compact
    monkeypatch.setattr(
        ItemCooccurrence, "_compact", lambda co, a: (compacted.append(a), compact(co, a))
    )
    rec = capped()
    for record in churn_log():
        rec.learn(record)
        check_bounds(rec)
    assert len(compacted) >= 5  # rows were pruned and their dropped partners compacted
    assert len(rec.seen) == 40 and len(rec.holders) == 60  # the caps were reached
    assert rec.mf.items.created > 60 and rec.mf.users.created > 40  # and rows were evicted


def test_recent_users_are_served_and_evicted_users_start_cold() -> None:
    log = churn_log()
    rec = learned(log, learn_weights=False)  # random traffic: learning would favour popularity
    recent = log[-1]["event"]["user_id"]
    answer = rec.recommend(recent, k=5)
    assert len(answer) == 5
    assert {r["source"] for r in answer} - {"popular"}  # more than the cold-start list
    assert "u0" not in rec.seen and rec.mf.users.get("u0") is None
    cold = rec.recommend("nobody", k=5)
    assert rec.recommend("u0", k=5) == cold
    assert {r["reason"] for r in cold} == {"popular right now"}
    rec.learn({**log[0], "event": {**log[0]["event"], "event_id": "back", "ts": T0 + 1e6}})
    assert rec.seen["u0"] == {log[0]["event"]["product_id"]}  # back, with a new history


def test_an_evicted_item_is_never_served_and_its_catalog_facts_are_forgotten() -> None:
    rec = learned(churn_log())
    for user in list(rec.seen)[-10:]:  # the walk reads a graph that still knows old items
        shown = {r["product_id"] for r in rec.recommend(user, k=60)}
        assert shown <= set(rec.holders)
    small = Recommender(max_items=3)
    event = {"event_id": "p", "ts": T0, "product_id": "x", "category_id": "c", "stock": 0}
    small.learn({"topic": "products", "event": event})
    assert "x" in small.out_of_stock and small.category["x"] == "c"
    for n, item in enumerate(["a", "b", "c"]):
        small.learn(click(n, "u", item))
    assert "x" not in small.holders and "x" not in small.out_of_stock | small.category.keys()
    assert list(small.holders) == ["a", "b", "c"] and small.seen["u"] == {"a", "b", "c"}
    small.learn(click(9, "u", "a"))  # a is now the most recently touched
    small.learn(click(10, "v", "d"))
    assert list(small.holders) == ["c", "a", "d"] and small.seen["u"] == {"a", "c"}


def answers_and_digest() -> str:
    """What a capped replica that learned the churn log serves, and its digest (one line)."""
    log = churn_log(1_500)
    rec = learned(log)
    users = [record["event"]["user_id"] for record in log[-40:]]
    served = [rec.recommend(user, k=5) for user in users]
    return f"{digest(rec)} {orjson.dumps(served).decode()}"


def test_capped_replicas_agree_whatever_their_hash_seed() -> None:
    code = "from tests.models.test_reco_bounds import answers_and_digest as f; print(f())"
    assert printed_under_hash_seeds(code) == {answers_and_digest()}


def test_same_capped_stream_same_digest_other_caps_another() -> None:
    log = churn_log()
    assert digest(learned(log)) == digest(learned(log))
    assert digest(learned(log)) != digest(learned(log, max_items=61))


@pytest.mark.parametrize("cut", [700, 2_100])
def test_snapshot_and_go_on_equals_never_stopping_across_evictions(
    tmp_path: Path, cut: int
) -> None:
    log = churn_log()
    whole, half = learned(log), learned(log[:cut])
    restored = from_state(orjson.loads(orjson.dumps(to_state(half))), graph=half.graph)
    assert digest(restored) == digest(half)
    persist.save(half, tmp_path / "reco.snap", offset=cut)
    loaded, offset = persist.load(tmp_path / "reco.snap", graph=learned(log[:cut]).graph)
    assert offset == cut and digest(loaded) == digest(half)
    for record in log[cut:]:
        restored.learn(record)
        loaded.learn(record)
    check_bounds(restored)
    assert digest(restored) == digest(loaded) == digest(whole)
    users = list(whole.seen)[-20:]
    assert [restored.recommend(u) for u in users] == [whole.recommend(u) for u in users]


def test_caps_are_checked_and_other_state_versions_refused() -> None:
    with pytest.raises(InvalidParameterError, match="max_users"):
        Recommender(max_users=0)
    with pytest.raises(InvalidParameterError, match="max_items"):
        Recommender(max_items=1.5)  # type: ignore[arg-type]
    state = to_state(learned(churn_log(200)))
    for version in (1, 2, 4):
        with pytest.raises(InvalidStateError):
            from_state({**state, "version": version})
    state["items"] = state["items"][1:]  # a seen item no longer listed
    with pytest.raises(InvalidStateError):
        from_state(state)


def test_factor_rows_start_from_the_draw_of_their_creation_number() -> None:
    a, b = FactorTable(4, 0.1, seed=3), FactorTable(4, 0.1, seed=3)
    for key in ("x", "y", "z"):
        a.row(key)
    b.row("x")
    b.row("w")
    b.factors[b.row("w")] += 1.0  # learned, then forgotten
    b.remove("w")
    b.remove("x")
    assert b.row("z") == 0 and b.created == 3
    assert np.array_equal(b.factors[0], a.factors[a.row("z")])
    c = FactorTable.from_state(b.to_state())
    c.row("v")
    b.row("v")
    assert np.array_equal(c.factors[:2], b.factors[:2]) and c.ids == b.ids


def test_forgetting_an_item_clears_rows_that_dropped_it() -> None:
    co = ItemCooccurrence(window=30, max_neighbours=2, half_life=None)
    rng = random.Random(5)
    for n in range(400):
        co.learn_one(f"u{n % 7}", f"p{rng.randrange(25)}", 1.0 + n % 3, T0 + n, n % 4 == 0)
    holding = {a for a, d in co.dropped.items() for j in d if a in co.pairs[j]}
    assert holding  # rows pruned: some hold a partner that dropped them
    for a in sorted(holding)[:5]:
        co.forget_item(a, users=list(co.recent))
        assert all(a not in row for row in co.pairs.values())
        assert all(a not in items for items in [*co.bought.values(), *co.dropped.values()])
        assert all(a not in co.history(user) for user in co.recent)
        assert a not in co.mass
        check_reachable(co)
