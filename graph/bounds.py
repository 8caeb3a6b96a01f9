"""Bounds: weak-edge pruning, node / edge / byte caps, and the estimated size of a graph.

After every applied record :func:`after_event` checks the caps (two integer
comparisons); every ``prune_every`` records it also drops the edges whose decayed
weight fell below ``min_weight``; when ``max_bytes`` is set it checks
:func:`estimated_bytes` at most :data:`BYTES_EVERY` records apart, and sooner when
fewer records could reach the bound (:func:`room`), so the estimate never passes it. Over a cap, the weakest edges (or the least recently
seen nodes) go until the graph is at :data:`PRUNE_TO` of it, so pruning is
amortised. Nodes left without edges go with them. Ties are broken by id: the
result is a function of the log, never of timing.

>>> from graph.knowledge import KnowledgeGraph
>>> g = KnowledgeGraph(half_life=1.0, min_weight=0.1, prune_every=3, aspects=None)
>>> for i, ts in enumerate([0.0, 1.0, 10.0]):
...     _ = g.apply({"topic": "clicks", "event": {"event_id": str(i), "ts": ts,
...                  "user_id": f"u{i}", "product_id": "p", "action": "view"}})
>>> g.n_edges, g.counters["pruned_edges_weak"], g.counters["pruned_nodes_bare"]
(1, 2, 2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from graph.schema import FREE
from graph.store import ID_INT_BYTES, KEY_INT_BYTES

if TYPE_CHECKING:
    from graph.knowledge import KnowledgeGraph

#: Over a cap, prune down to this fraction of it.
PRUNE_TO = 0.9
#: Bytes of an edge slot's columns (4+4+1+8+8+4+8+4+4) and of a node slot (name, kind, last
#: seen, adjacency list entries and array header with spare room).
EDGE_SLOT_BYTES = 45
NODE_SLOT_BYTES = 8 + 1 + 8 + 8 + 8 + 80
#: Check ``max_bytes`` at most this many records apart; sooner when the bound is nearer than
#: that many records could take the graph (:func:`room`), so the estimate never passes it.
BYTES_EVERY = 4_096
#: Bytes a new node's name is assumed to take, at least (twice the mean so far when larger).
NAME_ALLOWANCE = 100
#: Bytes a remembered event id is assumed to add, at most.
ID_ALLOWANCE = 160
#: No bytes check scheduled (``max_bytes`` unset).
NEVER = 1 << 62


def after_event(g: KnowledgeGraph) -> None:
    """The bounds check run after each applied record."""
    applied = g.counters["applied"]
    if g.n_edges > g.edge_cap:
        prune_edges_to(g, int(g.edge_cap * PRUNE_TO))
    if g.n_nodes > g.max_nodes:
        prune_nodes_to(g, int(g.max_nodes * PRUNE_TO))
    if applied % g.prune_every == 0:
        prune_weak(g)
    if applied >= g.bytes_check_at:
        enforce_bytes(g)


def _weights(g: KnowledgeGraph) -> np.ndarray:
    """Every edge slot's weight as of ``g.now`` (free slots: +inf)."""
    weights = np.frombuffer(g._w, dtype=np.float64) * g.decay()
    weights[np.frombuffer(g._type, dtype=np.uint8) == FREE] = np.inf
    return weights


def prune_weak(g: KnowledgeGraph) -> int:
    """Drop every edge whose weight is below ``g.min_weight``; the number dropped."""
    weak = np.flatnonzero(_weights(g) < g.min_weight)
    g.counters["pruned_nodes_bare"] += _remove(g, weak.tolist(), "pruned_edges_weak")
    return len(weak)


def prune_edges_to(g: KnowledgeGraph, target: int) -> int:
    """Drop the weakest edges (ties: lower id first) until at most ``target`` remain."""
    excess = g.n_edges - target
    if excess <= 0:
        return 0
    order = np.argsort(_weights(g), kind="stable")[:excess]
    g.counters["pruned_nodes_bare"] += _remove(g, sorted(order.tolist()), "pruned_edges_cap")
    return excess


def prune_nodes_to(g: KnowledgeGraph, target: int) -> int:
    """Drop the least recently seen nodes, with their edges, until at most ``target`` remain."""
    excess = g.n_nodes - target
    if excess <= 0:
        return 0
    seen = np.frombuffer(g._seen, dtype=np.float64).copy()
    seen[np.frombuffer(g._kind, dtype=np.uint8) == FREE] = np.inf
    oldest = np.argsort(seen, kind="stable")[:excess].tolist()
    edges = sorted({e for v in oldest for e in (*g.edges_of(v), *g.side_of(v))})
    removed = _remove(g, edges, "pruned_edges_cap")
    g.counters["pruned_nodes_cap"] += removed
    return removed


def enforce_bytes(g: KnowledgeGraph) -> None:
    """Turn ``g.max_bytes`` into an edge cap at the current bytes per edge, apply it, and
    schedule the next check (``g.bytes_check_at``) before the graph could pass the bound.

    The cap (``g.edge_cap``, checked after every record) is renewed at each check. The
    next check comes after :func:`room` records, the most that cannot take the estimate
    past ``max_bytes`` even if each adds the most edges and nodes a record can; when
    not even one record fits, the weakest edges go until some do.
    """
    assert g.max_bytes is not None
    for _ in range(3):  # the size is not quite proportional to the edges; converge
        size, fixed = estimated_bytes(g), dedup_bytes(g.dedup_ids)
        per_edge = (size - fixed) / max(g.n_edges, 1)
        g.edge_cap = max(10, min(g.max_edges, int((g.max_bytes - fixed) / max(per_edge, 1.0))))
        if size <= g.max_bytes:
            break
        prune_edges_to(g, int(g.edge_cap * PRUNE_TO))
    records = room(g)
    while records == 0 and g.n_edges > 10:
        prune_edges_to(g, int(g.n_edges * PRUNE_TO))
        records = room(g)
    g.bytes_check_at = g.counters["applied"] + max(records, 1)


def room(g: KnowledgeGraph) -> int:
    """The most records (up to :data:`BYTES_EVERY`) that cannot take the estimated size past
    ``g.max_bytes``: each assumed to add a review's or a click's most edges and nodes."""
    assert g.max_bytes is not None
    edges = 2 + max(g.co_recent, g.max_aspects)  # a click or sale: interaction, co-edges,
    nodes = 3 + g.max_aspects  # category; a review: interaction, aspects, category
    name = max(NAME_ALLOWANCE, 2 * g.name_bytes // max(g.n_nodes, 1))
    ids = 1 if g.dedup_ids else 0
    low, high = 0, BYTES_EVERY
    while low < high:  # the largest k with projected(k) <= max_bytes (monotone in k)
        k = (low + high + 1) // 2
        if estimated_bytes(g, k * edges, k * nodes, k * nodes * name, k * ids) <= g.max_bytes:
            low = k
        else:
            high = k - 1
    return low


def dedup_bytes(ids: int) -> int:
    """Most bytes a window of ``ids`` remembered event ids takes (ids of up to 50 chars)."""
    return ids * (8 + 32 + 100)


def _remove(g: KnowledgeGraph, edges: list[int], counter: str) -> int:
    """Remove ``edges``, counting them under ``counter``; the nodes left bare and removed."""
    if not edges:
        return 0
    g.counters["prune_runs"] += 1
    g.counters[counter] += len(edges)
    return g.remove_edges(edges)


def estimated_bytes(
    g: KnowledgeGraph, edges: int = 0, nodes: int = 0, name_bytes: int = 0, ids: int = 0
) -> int:
    """Bytes the graph holds, estimated from its counts alone (O(1); within ~20% of
    tracemalloc). A function of the applied log, so a restored replica prunes alike.

    With ``edges``, ``nodes``, ``name_bytes`` and ``ids``: the estimate after that many more
    (new edges and nodes fill free slots first; each kind's name index is assumed to get
    all the new nodes, an overestimate).
    """
    n_edges, n_nodes = g.n_edges + edges, g.n_nodes + nodes
    slots, node_slots = max(len(g._type), n_edges), max(len(g._names), n_nodes)
    total = slots * EDGE_SLOT_BYTES + n_edges * (KEY_INT_BYTES + ID_INT_BYTES + 8)
    total += _dict_bytes(n_edges) + sum(_dict_bytes(len(index) + nodes) for index in g._ids)
    total += node_slots * NODE_SLOT_BYTES + n_nodes * ID_INT_BYTES + g.name_bytes + name_bytes
    total += (len(g._free_edges) + len(g._free_nodes)) * (8 + ID_INT_BYTES)
    recent = min(len(g._recent) + ids, g.dedup_ids)
    return total + recent * 8 + _set_bytes(recent) + g.id_bytes + ids * ID_ALLOWANCE


def _dict_bytes(n: int) -> int:
    """A CPython dict of ``n`` entries grown by insertion: table of 2..4 slots per entry."""
    size = 8
    while size * 2 // 3 < n:
        size *= 2
    index = 1 if size <= 128 else 2 if size <= 1 << 15 else 4 if size <= 1 << 31 else 8
    return 64 + size * index + (size * 2 // 3) * 24


def _set_bytes(n: int) -> int:
    size = 8
    while size < 4 * n:
        size *= 2
    return 200 + size * 16
