"""Decay by event time, pruning, caps and the estimated size."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

import pytest

from graph import bounds
from graph.knowledge import KnowledgeGraph
from graph.schema import PRODUCT, USER, VIEWED
from graph.store import MAX_EXPONENT
from tests.graph.records import Record, click, sale

T0 = 1.7e9
DAY = 86_400.0


def viewed_weight(g: KnowledgeGraph, user: str, product: str) -> float:
    u, p = g.node_id(USER, user), g.node_id(PRODUCT, product)
    assert u is not None and p is not None
    e = g.edge_id(VIEWED, u, p)
    assert e is not None
    return g.weight(e)


def test_weights_halve_every_half_life_of_event_time() -> None:
    g = KnowledgeGraph(half_life=DAY, min_weight=0.0, aspects=None)
    g.apply(click("u", "p", T0))
    assert viewed_weight(g, "u", "p") == 1.0
    g.apply(click("v", "q", T0 + 2 * DAY))  # time moves only with events
    assert viewed_weight(g, "u", "p") == pytest.approx(0.25)
    g.apply(click("u", "p", T0 + 2 * DAY))
    assert viewed_weight(g, "u", "p") == pytest.approx(1.25)
    g.apply(click("u", "p", T0 + DAY))  # a late event counts as of its own time
    assert viewed_weight(g, "u", "p") == pytest.approx(1.75)


def test_rebasing_keeps_weights() -> None:
    g = KnowledgeGraph(half_life=1.0, min_weight=0.0, aspects=None)
    g.apply(click("u", "p", T0))
    g.apply(click("u", "q", T0))
    ref = g.ref
    g.apply(click("u", "q", T0 + MAX_EXPONENT - 1))
    g.apply(click("u", "q", T0 + MAX_EXPONENT + 5))
    assert g.ref != ref  # rescaled to a new reference time
    assert viewed_weight(g, "u", "q") == pytest.approx(1 + 2.0**-6 + 2.0 ** -(MAX_EXPONENT + 5))
    assert viewed_weight(g, "u", "p") == pytest.approx(2.0 ** -(MAX_EXPONENT + 5))


def test_weak_edges_and_bare_nodes_are_pruned_every_prune_every_records() -> None:
    g = KnowledgeGraph(half_life=DAY, min_weight=0.1, prune_every=4, aspects=None)
    g.apply(click("old", "p0", T0, category_id="c"))
    g.apply(click("u", "p1", T0 + 10 * DAY, category_id="c"))
    g.apply(click("u", "p2", T0 + 10 * DAY))
    assert g.node_id(USER, "old") is not None  # not yet: pruning runs at record 4
    g.apply(click("u", "p3", T0 + 10 * DAY))
    assert g.node_id(USER, "old") is None and g.node_id(PRODUCT, "p0") is None
    assert g.counters["pruned_edges_weak"] == 2  # viewed + in_category of p0
    assert g.counters["pruned_nodes_bare"] == 2  # old, p0; category c keeps p1's edge
    assert g.n_edges == 3 + 1 + 3  # 3 views, p1 in c, co-views p1-p2, p1-p3, p2-p3
    g.apply(click("new", "p0", T0 + 10 * DAY))  # freed slots are reused
    assert g.n_nodes == len(g._names) - len(g._free_nodes)


def test_edge_cap_drops_the_weakest_first() -> None:
    g = KnowledgeGraph(half_life=DAY, max_edges=10, aspects=None, co_recent=0)
    for i in range(11):
        g.apply(click(f"u{i}", f"p{i}", T0 + i * 3600))
    assert g.n_edges == 9 and g.counters["pruned_edges_cap"] == 2
    assert g.node_id(USER, "u0") is None and g.node_id(USER, "u1") is None
    assert g.node_id(USER, "u2") is not None


def test_node_cap_drops_the_least_recently_seen() -> None:
    g = KnowledgeGraph(half_life=None, max_nodes=10, aspects=None, co_recent=0)
    for i in range(6):
        g.apply(click(f"u{i}", f"p{i}", T0 + i))
    assert g.n_nodes <= 10 and g.counters["pruned_nodes_cap"] == 4
    assert [g.node_id(USER, f"u{i}") is None for i in range(6)] == [True] * 2 + [False] * 4


@pytest.mark.data
def test_estimated_bytes_tracks_measured_memory(taobao: Callable[..., list[Record]]) -> None:
    records = taobao(40_000)
    gc.collect()
    tracemalloc.start()
    try:
        g = KnowledgeGraph(half_life=DAY, aspects=None, dedup_ids=20_000)
        for record in records:
            g.apply({"topic": record["topic"], "event": _fresh(record["event"])})
        gc.collect()
        measured = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    estimate = bounds.estimated_bytes(g)
    assert 0.8 * measured <= estimate <= 1.25 * measured, (estimate, measured)


def _fresh(event: dict) -> dict:
    """A copy with new id strings, so the graph's own copies are traced."""
    return {k: "".join(list(v)) if isinstance(v, str) else v for k, v in event.items()}


def test_memory_stays_under_max_bytes_through_a_long_replay() -> None:
    limit = 3_000_000
    g = KnowledgeGraph(
        half_life=30 * DAY, max_bytes=limit, prune_every=5_000, aspects=None, dedup_ids=1_000
    )
    peak = 0
    for i in range(60_000):
        g.apply(sale(f"u{i % 7919}", f"p{(i * 31) % 10007}", T0 + i))
        peak = max(peak, bounds.estimated_bytes(g))
    assert peak <= limit  # after every record, not only at the checks
    assert peak > 0.8 * limit
    assert g.counters["pruned_edges_cap"] > 0
    assert g.n_edges > 2_000  # pruned to the bound, not to nothing


def test_max_bytes_must_leave_room_beside_the_dedup_window() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        KnowledgeGraph(max_bytes=2_000_000, dedup_ids=100_000)
