"""The worker's hybrid recommender: restored from its snapshot (at an offset other than the
graph's) it answers as one that never stopped; prequential scoring changes nothing it
learns; the serving filters; the rules' cached fact; foreign or damaged snapshots ignored."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from models.reco.state import digest
from streams.exceptions import ConfigurationError
from streams.metrics import Metrics
from streams.replica import FeedbackReplica
from streams.settings import Settings
from streams.snapshots import check_folders

T0 = 1.7e9
USERS = [f"u{i}" for i in range(12)]


def log(n: int, seed: int = 0) -> list[bytes]:
    """Clicks, sales and reviews of 12 users on 30 products in 5 categories, and a few
    catalogue updates (one takes p3 out of stock)."""
    rng, out = random.Random(seed), []
    for i in range(n):
        product = f"p{int(rng.paretovariate(1.0)) % 30}"
        event: dict[str, Any] = {"event_id": f"e{i}", "ts": T0 + 60 * i, "product_id": product,
                                 "user_id": rng.choice(USERS), "category_id": f"c{int(product[1:]) % 5}"}  # fmt: skip
        r = rng.random()
        if i == n // 2:
            record: dict[str, Any] = {"topic": "products", "event": {"event_id": f"e{i}",
                                      "ts": event["ts"], "product_id": "p3", "stock": 0}}  # fmt: skip
        elif r < 0.75:
            action = rng.choice(["view", "view", "view", "add_to_cart", "favorite"])
            record = {"topic": "clicks", "event": {**event, "action": action}}
        elif r < 0.9:
            record = {"topic": "sales", "event": {**event, "quantity": 1}}
        else:
            record = {"topic": "reviews", "event": {**event, "text": "ok", "rating": 4}}
        out.append(orjson.dumps(record))
    return out


def replica(tmp_path: Path, **settings: object) -> FeedbackReplica:
    s = Settings(data_dir=tmp_path, **settings)  # type: ignore[arg-type]
    return FeedbackReplica(s, "127.0.0.1:1", Metrics(CollectorRegistry()))


def feed(r: FeedbackReplica, values: list[bytes], start: int, stop: int) -> None:
    for i in range(start, stop):
        r.apply(values[i], i)
        r.offset = i + 1


def snapshot(model: Any, offset: int) -> None:
    check_folders(model.settings)

    async def go() -> None:
        assert model.snapshot(offset)
        if hasattr(model, "capturing"):
            await model.capturing()  # the copy is made in a thread: the replica waits for it
        await model._writing

    asyncio.run(go())


def answers(r: FeedbackReplica) -> list[Any]:
    assert r.reco is not None
    return [r.reco.recommend(u, 10) for u in [*USERS, "newcomer"]]


def sample(r: FeedbackReplica, name: str, **labels: str) -> float | None:
    return r.metrics.registry.get_sample_value(name, labels)


def test_a_restart_from_snapshots_at_other_offsets_serves_what_a_steady_replica_serves(
    tmp_path: Path,
) -> None:
    values = log(3000)
    steady = replica(tmp_path / "steady")
    feed(steady, values, 0, len(values))
    first = replica(tmp_path / "w")
    feed(first, values, 0, 1200)
    assert first.graph is not None and first.reco is not None
    snapshot(first.graph, 1200)  # the graph at 1,200 ...
    feed(first, values, 1200, 1900)
    snapshot(first.reco, 1900)  # ... the recommender at 1,900
    again = replica(tmp_path / "w")
    assert again.graph is not None and again.reco is not None
    again.graph.restore()
    again.reco.restore()
    assert again.reco.restored["note"] == "loaded" and again.reco.skip_below == 1900
    assert again.reco.rec.graph is again.graph.graph  # the walk reads the restored graph
    feed(again, values, 0, len(values))  # the log is read from 0; each skips its prefix
    assert steady.reco is not None
    assert digest(again.reco.rec) == digest(steady.reco.rec)
    assert answers(again) == answers(steady)
    again.reco.export()
    assert sample(again, "pulse_reco_records_total", outcome="skipped") == 1900
    # the blend-weight learner sampled before and after the restart alike (its sums are in
    # the digest compared above)
    learner = steady.reco.rec.learner
    assert learner is not None and learner.samples > 10
    assert again.reco.rec.weights == steady.reco.rec.weights


def test_prequential_scoring_counts_both_models_and_changes_nothing(tmp_path: Path) -> None:
    values = log(2000, seed=1)
    scored, quiet = (
        replica(tmp_path / "a", reco_eval_every=1),
        replica(tmp_path / "b", reco_eval_every=0),
    )
    feed(scored, values, 0, len(values))
    feed(quiet, values, 0, len(values))
    assert scored.reco is not None and quiet.reco is not None
    assert digest(scored.reco.rec) == digest(quiet.reco.rec)
    for model in ("hybrid", "popularity"):
        evaluated = sample(scored, "pulse_reco_prequential_evaluations_total", model=model)
        hits = sample(scored, "pulse_reco_prequential_hits_total", model=model)
        assert evaluated is not None and hits is not None
        assert 100 < evaluated < 2000 and 0 < hits <= evaluated, (model, hits, evaluated)
    assert sample(quiet, "pulse_reco_prequential_evaluations_total", model="hybrid") == 0
    every_5th = replica(tmp_path / "c", reco_eval_every=5)
    feed(every_5th, values, 0, len(values))
    n = sample(scored, "pulse_reco_prequential_evaluations_total", model="hybrid")
    assert sample(every_5th, "pulse_reco_prequential_evaluations_total", model="hybrid") == (
        n // 5  # type: ignore[operator]
    )


def test_served_items_skip_bought_out_of_stock_and_excluded_categories(tmp_path: Path) -> None:
    values = log(2000, seed=2)
    r = replica(tmp_path)
    feed(r, values, 0, len(values))
    assert r.reco is not None
    rec = r.reco.rec
    for user in USERS:
        items = {i["product_id"] for i in r.reco.recommend(user, 20)}
        assert items and not items & rec.popular.purchases(user) and "p3" not in items
        assert not items & rec.seen[user]
        kept = r.reco.recommend(user, 20, exclude_categories={"c0", "c1"})
        assert kept and all(rec.category[i["product_id"]] not in {"c0", "c1"} for i in kept)
        assert all(i.keys() == {"product_id", "score", "reason", "source"} for i in kept)
    cold = r.reco.recommend("newcomer", 5)
    assert len(cold) == 5 and {i["source"] for i in cold} == {"popular"}
    restock = {
        "topic": "products",
        "event": {"event_id": "r", "ts": T0, "product_id": "p3", "stock": 9},
    }
    r.apply(orjson.dumps(restock), len(values))
    assert "p3" in {i["product_id"] for i in r.reco.recommend("newcomer", 30)}


def test_the_rules_fact_comes_from_the_hybrid_reused_for_the_ttl(tmp_path: Path) -> None:
    values = log(500, seed=3)
    r = replica(tmp_path, reco_facts_ttl=5)
    feed(r, values, 0, 400)
    assert r.reco is not None
    now = [100.0]
    r.reco.clock = lambda: now[0]
    top = r.top_items("u1", 3)
    assert top == [i["product_id"] for i in r.reco.recommend("u1", 3)]
    feed(r, values, 400, 500)
    assert r.top_items("u1", 3) == top  # cached
    now[0] += 5.0
    assert r.top_items("u1", 3) == [i["product_id"] for i in r.reco.recommend("u1", 3)]
    assert r.recommender_version.startswith("hybrid-")


def test_without_the_graph_the_walk_is_off(tmp_path: Path) -> None:
    r = replica(tmp_path, graph_enabled=False)
    feed(r, log(500), 0, 500)
    assert r.reco is not None and r.graph is None
    assert r.reco.rec.weights["walk"] == 0.0 and r.reco.rec.graph.n_edges == 0
    assert r.reco.recommend("u1", 10)
    assert replica(tmp_path, reco_enabled=False).reco is None


def test_foreign_damaged_and_ahead_snapshots_are_ignored(tmp_path: Path) -> None:
    values = log(600)
    first = replica(tmp_path)
    feed(first, values, 0, 600)
    assert first.reco is not None
    snapshot(first.reco, 600)
    other = replica(tmp_path, reco_seed=5)
    assert other.reco is not None
    other.reco.restore()
    assert "other recommender settings" in other.reco.restored["note"]
    same = replica(tmp_path)
    assert same.reco is not None
    same.reco.restore()
    same.reco.check_log(400)  # the topic was recreated: the snapshot belongs to another log
    assert same.reco.skip_below == 0 and "past the log's end" in same.reco.restored["note"]
    path = first.reco.path
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    cut = replica(tmp_path)
    assert cut.reco is not None
    cut.reco.restore()
    assert "unreadable" in cut.reco.restored["note"] and cut.reco.skip_below == 0


def test_an_unusable_snapshot_folder_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    r = replica(tmp_path, reco_snapshot_dir=tmp_path / "file" / "reco")
    assert r.reco is not None
    with pytest.raises(ConfigurationError, match="PULSE_RECO_SNAPSHOT_DIR=.*writable"):
        check_folders(r.reco.settings)
