"""Online recommenders: determinism, snapshots, filters, reasons, cold start, model equations."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from river import optim, reco

from graph.persist import load, snapshot
from models.exceptions import InvalidInputError, InvalidStateError
from models.reco import (
    BPRMF,
    BiasedMF,
    ItemCooccurrence,
    Recommender,
    digest,
    from_state,
    persist,
    to_state,
)
from models.reco.cooc import PRUNE_AT

T0 = 1_700_000_000.0
ACTIONS = ["view", "view", "view", "favorite", "add_to_cart"]


def synthetic_log(n: int = 600, seed: int = 3) -> list[dict]:
    """Clicks and sales of 40 users over 30 products in 3 categories, with a catalog update."""
    rng = random.Random(seed)
    records = []
    for t in range(n):
        user, item = f"u{rng.randrange(40)}", rng.randrange(30)
        event = {
            "event_id": f"e{t}",
            "ts": T0 + 10 * t,
            "user_id": user,
            "product_id": f"p{item}",
            "category_id": f"c{item % 3}",
        }
        if rng.random() < 0.1:
            records.append({"topic": "sales", "event": event})
        else:
            records.append({"topic": "clicks", "event": {**event, "action": rng.choice(ACTIONS)}})
    return records


def learned(records: list[dict], **params) -> Recommender:
    rec = Recommender(**params)
    for record in records:
        rec.learn(record)
    return rec


def click(n: int, user: str, item: str, action: str = "view", **extra) -> dict:
    event = {"event_id": f"c{n}", "ts": T0 + n, "user_id": user, "product_id": item}
    return {"topic": "clicks", "event": {**event, "action": action, **extra}}


def sale(n: int, user: str, item: str, **extra) -> dict:
    event = {"event_id": f"s{n}", "ts": T0 + n, "user_id": user, "product_id": item}
    return {"topic": "sales", "event": {**event, **extra}}


def test_same_log_same_state_and_answers() -> None:
    log = synthetic_log()
    a, b = learned(log, seed=5), learned(log, seed=5)
    assert digest(a) == digest(b)
    assert [a.recommend(f"u{i}") for i in range(40)] == [b.recommend(f"u{i}") for i in range(40)]


def answers_and_digest() -> str:
    """What a replica that learned the synthetic log serves, and its digest (one line)."""
    rec = learned(synthetic_log())
    served = [rec.recommend(f"u{i}", k=5) for i in range(40)] + [rec.recommend("new", k=5)]
    return f"{digest(rec)} {orjson.dumps(served).decode()}"


def printed_under_hash_seeds(code: str, seeds: tuple[str, ...] = ("1", "2")) -> set[str]:
    """What ``python -c code`` prints in a fresh process per ``PYTHONHASHSEED``."""
    outputs = set()
    for seed in seeds:
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parents[2],
        )
        outputs.add(out.stdout.strip())
    return outputs


def test_replicas_in_other_processes_agree_whatever_their_hash_seed() -> None:
    code = "from tests.models.test_reco import answers_and_digest; print(answers_and_digest())"
    assert printed_under_hash_seeds(code) == {answers_and_digest()}


def test_another_order_or_seed_changes_the_digest() -> None:
    log = synthetic_log()
    assert digest(learned(log)) != digest(learned(log[::-1]))
    assert digest(learned(log, seed=1)) != digest(learned(log, seed=2))


def test_a_resent_event_is_learned_once() -> None:
    log = synthetic_log(100)
    rec = learned(log)
    before = digest(rec)
    assert rec.learn(log[50]) is False
    assert digest(rec) == before


def test_snapshot_round_trip_goes_on_as_if_never_stopped(tmp_path: Path) -> None:
    log = synthetic_log()
    whole = learned(log)
    half = learned(log[:300])
    snapshot(half.graph, tmp_path / "graph.snap", offset=300)
    graph, offset = load(tmp_path / "graph.snap", aspects=None)
    state = orjson.loads(orjson.dumps(to_state(half)))
    restored = from_state(state, graph=graph)
    assert digest(restored) == digest(half)
    for record in log[offset:]:
        restored.learn(record)
    assert digest(restored) == digest(whole)
    assert [restored.recommend(f"u{i}") for i in range(40)] == [
        whole.recommend(f"u{i}") for i in range(40)
    ]


def test_snapshot_file_round_trip_and_damaged_files(tmp_path: Path) -> None:
    log = synthetic_log()
    whole, half = learned(log), learned(log[:250])
    path = tmp_path / "reco.snap"
    persist.save(half, path, offset=250)
    persist.save(half, path, offset=250)  # over an older snapshot
    restored, offset = persist.load(path, graph=learned(log[:250]).graph)
    assert offset == 250 and digest(restored) == digest(half)
    for record in log[offset:]:
        restored.learn(record)
    assert digest(restored) == digest(whole)
    assert [p.name for p in tmp_path.iterdir()] == ["reco.snap"]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidStateError):
        persist.load(path)
    with pytest.raises(InvalidStateError):
        persist.load(tmp_path / "missing.snap")


def test_malformed_state_is_refused() -> None:
    with pytest.raises(InvalidStateError):
        from_state({"version": 99})
    state = to_state(Recommender())
    del state["cooc"]
    with pytest.raises(InvalidStateError):
        from_state(state)


def test_cold_start_user_gets_popular_items_and_unknown_everything_gets_nothing() -> None:
    assert Recommender().recommend("nobody") == []
    rec = learned(synthetic_log())
    answer = rec.recommend("newcomer", k=5)
    assert len(answer) == 5
    assert {r["reason"] for r in answer} == {"popular right now"}
    top = [item for item, _ in rec.popular.rank(None, 5)]
    assert [r["product_id"] for r in answer] == top


def test_filters_bought_seen_stock_and_categories() -> None:
    rec = learned(synthetic_log())
    user = "u1"
    shown = {r["product_id"] for r in rec.recommend(user, k=30)}
    assert not shown & rec.popular.purchases(user)
    assert not shown & rec.seen[user]
    first = rec.recommend(user, k=1)[0]["product_id"]
    rec.learn(
        {
            "topic": "products",
            "event": {"event_id": "stock", "ts": T0 + 1e5, "product_id": first, "stock": 0},
        }
    )
    assert first not in {r["product_id"] for r in rec.recommend(user, k=30)}
    second = rec.recommend(user, k=1)[0]["product_id"]
    assert second not in {
        r["product_id"] for r in rec.recommend(user, k=30, in_stock=lambda p: p != second)
    }
    no_c0 = rec.recommend(user, k=30, exclude_categories={"c0"})
    assert no_c0 and all(rec.category[r["product_id"]] != "c0" for r in no_c0)
    rec.learn(
        {
            "topic": "products",
            "event": {"event_id": "restock", "ts": T0 + 2e5, "product_id": first, "stock": 5},
        }
    )
    assert first in {r["product_id"] for r in rec.recommend(user, k=30)}


def test_reasons_name_the_item_or_category_behind_a_recommendation() -> None:
    rec = Recommender(weights={"cooc": 1.0})
    for n, user in enumerate(["a", "b", "c"]):
        rec.learn(sale(2 * n, user, "tent"))
        rec.learn(sale(2 * n + 1, user, "stove"))
    rec.learn(sale(10, "d", "tent"))
    assert rec.recommend("d", k=1)[0]["reason"] == "bought together with tent"
    rec.learn(click(11, "e", "mat"))
    rec.learn(click(12, "e", "tent"))
    rec.learn(click(13, "f", "mat"))
    assert rec.recommend("f", k=1)[0]["reason"] == "often chosen together with mat"
    by_category = Recommender(weights={"popular_category": 1.0})
    by_category.learn(click(1, "a", "boots", category_id="shoes"))
    by_category.learn(click(2, "b", "laces", category_id="shoes"))
    assert by_category.recommend("b", k=1) == [
        {
            "product_id": "boots",
            "score": pytest.approx(1 / 60),
            "reason": "popular in category shoes",
            "source": "popular_category",
        }
    ]


def test_bad_records_raise_and_change_nothing() -> None:
    rec = learned(synthetic_log(50))
    before = digest(rec)
    with pytest.raises(InvalidInputError):
        rec.learn({"topic": "clicks", "event": {"event_id": "x", "user_id": "u"}})
    with pytest.raises(InvalidInputError):
        rec.cooc.learn_one("u", "p", float("nan"), T0)
    with pytest.raises(InvalidInputError):
        rec.learn(
            {
                "topic": "clicks",
                "event": {
                    "event_id": "y",
                    "user_id": "u",
                    "ts": T0,
                    "product_id": "p",
                    "action": "teleport",
                },
            }
        )
    assert digest(rec) == before
    assert rec.learn(click(999, "u1", "p1", action="remove_from_cart")) is True


def test_biased_mf_biases_follow_rivers_equations() -> None:
    """With zero latent factors only the biases learn: river and Pulse must agree exactly."""
    ours = BiasedMF(init_std=0.0, lr_bias=0.03, l2_bias=0.01)
    theirs = reco.BiasedMF(
        bias_optimizer=optim.SGD(0.03),
        latent_optimizer=optim.SGD(0.05),
        l2_bias=0.01,
        latent_initializer=optim.initializers.Zeros(),
    )
    rng = random.Random(0)
    for _ in range(300):
        user, item, y = f"u{rng.randrange(9)}", f"i{rng.randrange(7)}", float(rng.randint(1, 5))
        assert ours.predict_one(user, item) == pytest.approx(theirs.predict_one(user, item))
        ours.learn_one(user, item, y)
        theirs.learn_one(user, item, y)


def test_bpr_ranks_what_similar_users_chose() -> None:
    bpr = BPRMF(n_factors=8, seed=1)
    rng = random.Random(1)
    for _ in range(3000):
        group = rng.randrange(2)
        user = f"{'ab'[group]}{rng.randrange(10)}"
        bpr.learn_one(user, f"{'ab'[group]}-item{rng.randrange(5)}", 1.0)
    assert all(item.startswith("a-") for item, _ in bpr.rank("a3", k=5))
    assert all(item.startswith("b-") for item, _ in bpr.rank("b3", k=5))


def test_cooccurrence_keeps_a_bounded_number_of_neighbours() -> None:
    co = ItemCooccurrence(window=50, max_neighbours=4, half_life=None)
    for n in range(200):
        co.learn_one("u", f"p{n}", 1.0, T0 + n)
    assert max(len(p) for p in co.pairs.values()) <= PRUNE_AT * 4
    assert len(co.history("u")) == 50
