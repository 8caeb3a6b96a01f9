"""The worker's graph replica: settings checked at start, records below a restored snapshot
skipped, snapshots written between batches, bad or foreign snapshots ignored, metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from graph import digest
from streams.exceptions import ConfigurationError
from streams.metrics import Metrics
from streams.replica import FeedbackReplica
from streams.settings import Settings, load_settings
from streams.snapshots import check_folders

T0 = 1.7e9


def value(i: int, **event: object) -> bytes:
    base = {"event_id": f"e{i}", "ts": T0 + i, "user_id": f"u{i % 5}", "product_id": f"p{i % 7}"}
    return orjson.dumps({"topic": "clicks", "event": {**base, "action": "view", **event}})


def replica(tmp_path: Path, **settings: object) -> FeedbackReplica:
    s = Settings(data_dir=tmp_path, graph_snapshot_interval=60, **settings)  # type: ignore[arg-type]
    return FeedbackReplica(s, "127.0.0.1:1", Metrics(CollectorRegistry()))


def feed(r: FeedbackReplica, start: int, stop: int) -> None:
    for i in range(start, stop):
        r.apply(value(i), i)
        r.offset = i + 1


def snapshot_now(r: FeedbackReplica) -> bool:
    async def go() -> bool:
        assert r.graph is not None
        written = r.graph.snapshot(r.offset)
        if written:
            await r.graph._writing  # type: ignore[misc]
        return written

    return asyncio.run(go())


def sample(r: FeedbackReplica, name: str) -> float | None:
    return r.metrics.registry.get_sample_value(name.split("{")[0], _labels(name))


def _labels(name: str) -> dict[str, str]:
    inside = name.partition("{")[2].rstrip("}")
    return dict(pair.split("=") for pair in inside.replace('"', "").split(",")) if inside else {}


def test_bad_graph_settings_fail_at_start_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="PULSE_GRAPH_MAX_EDGES=5"):
        load_settings({"PULSE_GRAPH_MAX_EDGES": "5"})
    with pytest.raises(ConfigurationError, match="PULSE_GRAPH_MAX_BYTES=1000"):
        load_settings({"PULSE_GRAPH_MAX_BYTES": "1000"})
    (tmp_path / "file").write_text("")
    graph = replica(tmp_path, graph_snapshot_dir=tmp_path / "file" / "graph").graph
    assert graph is not None
    with pytest.raises(ConfigurationError, match="PULSE_GRAPH_SNAPSHOT_DIR=.*writable"):
        check_folders(graph.settings)
    assert replica(tmp_path, graph_enabled=False).graph is None


def test_repeats_and_unreadable_records_never_change_the_graph(tmp_path: Path) -> None:
    r = replica(tmp_path)
    assert r.graph is not None
    feed(r, 0, 10)
    before = digest(r.graph.graph)
    assert not r.apply(value(3), 10)  # a repeat: the replica drops it before the graph
    r.apply(orjson.dumps({"topic": "clicks", "event": {"event_id": "x"}}), 11)  # no ts
    assert digest(r.graph.graph) == before
    r.graph.export()
    assert sample(r, 'pulse_graph_records_total{outcome="applied"}') == 10
    assert sample(r, 'pulse_graph_records_total{outcome="invalid"}') == 1
    assert sample(r, 'pulse_graph_edges{kind="viewed"}') == r.graph.graph.type_counts[0]


def test_a_restored_replica_skips_what_its_snapshot_holds_and_ends_the_same(
    tmp_path: Path,
) -> None:
    steady, first = replica(tmp_path / "a"), replica(tmp_path / "b")
    feed(steady, 0, 300)
    feed(first, 0, 200)
    assert first.graph is not None and steady.graph is not None
    check_folders(first.graph.settings)
    assert snapshot_now(first) and not snapshot_now(first)  # nothing new the second time
    again = replica(tmp_path / "b")
    assert again.graph is not None
    again.graph.restore()
    assert again.graph.restored["note"] == "loaded" and again.graph.skip_below == 200
    feed(again, 0, 300)  # the whole log: popularity and user facts need it
    assert digest(again.graph.graph) == digest(steady.graph.graph)
    assert again.graph._outcomes["skipped"] == 200
    assert again.popularity.score("p1") == steady.popularity.score("p1")


def test_foreign_damaged_or_other_settings_snapshots_are_ignored(tmp_path: Path) -> None:
    r = replica(tmp_path)
    assert r.graph is not None
    check_folders(r.graph.settings)
    feed(r, 0, 100)
    assert snapshot_now(r)
    other = replica(tmp_path, graph_half_life=3600.0).graph
    assert other is not None
    other.restore()
    assert other.skip_below == 0 and "other graph settings" in other.restored["note"]

    ahead = replica(tmp_path).graph
    assert ahead is not None
    ahead.restore()
    assert ahead.skip_below == 100
    ahead.check_log(end=40)  # the topic was recreated: the snapshot is past its end
    assert ahead.skip_below == 0 and ahead.graph.n_edges == 0 and "past" in ahead.restored["note"]

    r.graph.path.write_bytes(r.graph.path.read_bytes()[:-100])
    damaged = replica(tmp_path).graph
    assert damaged is not None
    damaged.restore()
    assert damaged.skip_below == 0 and "unreadable" in damaged.restored["note"]


def test_stats_report_offset_snapshot_and_digest(tmp_path: Path) -> None:
    r = replica(tmp_path)
    assert r.graph is not None
    feed(r, 0, 50)
    answer = r.graph.stats(r.offset, with_digest=True)
    assert answer["offset"] == 50 and answer["digest"] == digest(r.graph.graph)
    assert answer["snapshot"]["offset"] is None and "digest" not in r.graph.stats(50)
