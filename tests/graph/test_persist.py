"""Digests, snapshots and replay: a restarted replica ends where one that never stopped does."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graph import persist
from graph.exceptions import SnapshotError
from graph.knowledge import KnowledgeGraph
from graph.persist import digest, load, snapshot
from graph.queries import product_aspects, random_walk, related_products
from tests.graph.records import Record, click, review, sale

T0 = 1.7e9
TEXTS = [
    "The battery is great.",
    "Terrible screen.",
    "物流很快，质量不错",
    "The price was fair.",
    "包装破损，客服不理",
    "Sound quality is poor but the case is nice.",
]
PARAMS = {
    "half_life": 1800.0,
    "min_weight": 0.2,
    "max_edges": 600,
    "max_nodes": 400,
    "prune_every": 97,
    "dedup_ids": 50,
}


def log(n: int = 3_000, seed: int = 11) -> list[Record]:
    rng = random.Random(seed)
    records: list[Record] = []
    for i in range(n):
        user, product, ts = f"u{rng.randrange(120)}", f"p{rng.randrange(200)}", T0 + 5 * i
        kind = rng.random()
        if kind < 0.6:
            action = rng.choice(["view", "view", "favorite", "add_to_cart", "remove_from_cart"])
            records.append(click(user, product, ts, action, category_id=f"c{rng.randrange(9)}"))
        elif kind < 0.85:
            records.append(sale(user, product, ts, quantity=rng.randrange(1, 4)))
        else:
            text = rng.choice(TEXTS)
            records.append(review(user, product, ts, text, score=rng.uniform(-1, 1)))
        if rng.random() < 0.03 and len(records) > 10:  # a re-sent event (a producer retry)
            records.append(records[-rng.randrange(2, 10)])
    return records


def build(records: list[Record], **params: float) -> KnowledgeGraph:
    g = KnowledgeGraph(**{**PARAMS, **params})  # type: ignore[arg-type]
    for record in records:
        g.apply(record)
    return g


def state(g: KnowledgeGraph) -> dict:
    """Everything a snapshot holds, as comparable values."""
    arrays = persist._arrays(g)
    return {name: a.tolist() for name, a in arrays.items()} | {
        "clock": (g.ref, g.now),
        "counters": g.counters,
        "cap": g.edge_cap,
        "sizes": (g.name_bytes, g.id_bytes),
        "edges": g._edges,
        "ids": g._ids,
    }


def test_the_same_log_gives_the_same_digest_and_a_different_one_does_not() -> None:
    records = log()
    a, b = build(records), build(records)
    assert digest(a) == digest(b)
    assert a.counters["pruned_edges_cap"] > 0 and a.counters["pruned_edges_weak"] > 0
    b.apply(click("someone", "else", T0 + 10**6))
    assert digest(a) != digest(b)
    assert digest(build(records[:-1])) != digest(a)


def test_the_digest_does_not_depend_on_hash_seeds(tmp_path: Path) -> None:
    code = (
        "from tests.graph.test_persist import build, log; from graph.persist import digest; "
        "print(digest(build(log(800))))"
    )
    digests = set()
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parents[2],
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1 and digests == {digest(build(log(800)))}


def test_the_digest_does_not_depend_on_internal_ids() -> None:
    g, h = KnowledgeGraph(half_life=None), KnowledgeGraph(half_life=None)
    for user, product in [("a", "x"), ("b", "y")]:
        g.apply(sale(user, product, T0, event_id=f"{user}{product}"))
    for user, product in [("b", "y"), ("a", "x")]:  # other order, other ids, same content
        h.apply(sale(user, product, T0, event_id=f"{user}{product}"))
    assert g.node_id(0, "a") != h.node_id(0, "a") and digest(g) == digest(h)


@pytest.mark.parametrize("cut", [1, 700, 1_501, 2_999])
def test_snapshot_then_replay_equals_never_stopping(tmp_path: Path, cut: int) -> None:
    records = log()
    never_stopped = build(records)
    path = tmp_path / "graph.snap"
    snapshot(build(records[:cut]), path, offset=cut)
    restored, offset = load(path)
    assert offset == cut
    for record in records[offset:]:
        restored.apply(record)
    assert digest(restored) == digest(never_stopped)
    assert state(restored) == state(never_stopped)
    for product in ("p1", "p7", "p42"):
        assert related_products(restored, product) == related_products(never_stopped, product)
        assert product_aspects(restored, product) == product_aspects(never_stopped, product)
    for user in ("u1", "u5", "u77"):
        assert random_walk(restored, user) == random_walk(never_stopped, user)


@pytest.mark.data
def test_snapshot_and_replay_on_real_events(tmp_path: Path, taobao) -> None:  # noqa: ANN001
    records = taobao(30_000)
    params = {"half_life": 600.0, "min_weight": 0.3, "max_edges": 20_000, "prune_every": 5_000}
    never_stopped = build(records, **params)
    snapshot(build(records[:12_345], **params), tmp_path / "g.snap", offset=12_345)
    restored, offset = load(tmp_path / "g.snap")
    for record in records[offset:]:
        restored.apply(record)
    assert digest(restored) == digest(never_stopped)
    assert never_stopped.counters["pruned_edges_cap"] > 0


def test_a_failed_write_keeps_the_previous_snapshot(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    path = tmp_path / "graph.snap"
    g = build(log(300))
    snapshot(g, path, offset=300)
    before = path.read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        snapshot(build(log(400)), path, offset=400)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["graph.snap"]


def test_unreadable_snapshots_raise_snapshot_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError):
        load(tmp_path / "missing.snap")
    (tmp_path / "junk.snap").write_bytes(b"not a snapshot")
    with pytest.raises(SnapshotError):
        load(tmp_path / "junk.snap")
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.frombuffer(b'{"format": "x", "version": 1}', dtype=np.uint8))
    with pytest.raises(SnapshotError, match="not a pulse-graph"):
        load(other)


def test_a_damaged_snapshot_raises_snapshot_error_or_loads_the_same_graph(
    tmp_path: Path,
) -> None:
    """Cut short, or any byte flipped (every 97th tried): never another graph, never
    another exception (the zip's CRC-32 covers every array; a flip in zip metadata that
    no reader checks leaves the content as it was)."""
    path = tmp_path / "graph.snap"
    g = build(log(400))
    snapshot(g, path, offset=400)
    whole, expected, refused = path.read_bytes(), digest(g), 0
    damaged = [whole[: len(whole) // 2], whole[:-30]]
    damaged += [
        whole[:i] + bytes([whole[i] ^ 0xFF]) + whole[i + 1 :] for i in range(0, len(whole), 97)
    ]
    for i, copy in enumerate(damaged):
        path.write_bytes(copy)
        try:
            h, offset = load(path)
        except SnapshotError:
            refused += 1
            continue
        assert i >= 2 and (digest(h), offset) == (expected, 400), i
    assert refused > 0.9 * len(damaged)


def test_a_capture_is_a_copy_and_can_be_written_later(tmp_path: Path) -> None:
    records = log(600)
    g = build(records[:400])
    captured, at_capture = persist.capture(g, offset=400), digest(g)
    for record in records[400:]:  # the graph goes on (and its arrays grow) before the write
        g.apply(record)
    persist.write(captured, tmp_path / "g.snap")
    restored, offset = load(tmp_path / "g.snap", aspects=None)
    assert offset == 400 and digest(restored) == at_capture != digest(g)
    assert restored.aspects is None
