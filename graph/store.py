"""Compact typed multigraph storage: interned integer node ids, edge columns in arrays.

A node is ``(kind, name)`` interned to an integer id; its incident edge ids
(both directions, in creation order) sit in ``array('i')`` lists: one for
user-product interactions (what random walks follow), one for the rest
(co-edges, categories, aspects; only nodes that have some). An edge is a
slot in parallel columns (source, target, type, decayed weight, last event
time, count and three numbers whose meaning depends on the type, see
:mod:`graph.schema`), found by the packed key ``(src << 32 | dst) << 3 | type``.
A pruned edge or node leaves a free slot, reused last-freed first, so the
layout is a pure function of the applied log.

Weights use *forward decay*: an increment at time ``ts`` is stored multiplied by
``2 ** ((ts - ref) / half_life)`` against a reference time ``ref``, so decay
never rewrites anything; a weight as of the newest event time ``now`` is the
stored value times ``2 ** ((ref - now) / half_life)`` (:meth:`GraphStore.decay`).
When an exponent would pass :data:`MAX_EXPONENT`, every weight is rescaled once
to a new reference.

>>> s = GraphStore(half_life=10.0)
>>> u, p = s.node(0, "u1"), s.node(1, "p1")
>>> e = s.touch(0, u, p, 0.0, s.advance(0.0))
>>> _ = s.touch(0, u, p, 10.0, s.advance(10.0))
>>> s.weight(e), s.count(e), s.n_edges, s.n_nodes
(1.5, 2, 1, 2)
"""

from __future__ import annotations

import math
import sys
from array import array

import numpy as np

from graph.schema import CO_EDGES, EDGE_TYPES, FREE, INTERACTIONS, NODE_KINDS

#: Rebase forward-decayed weights when an exponent passes this many half-lives.
MAX_EXPONENT = 64.0
#: Interaction edge types are the codes up to this one, co-edges from this one (graph.schema).
LAST_INTERACTION, FIRST_CO = max(INTERACTIONS), min(CO_EDGES)
#: Bytes of a packed edge key int (up to 67 bits) and of an edge id int.
KEY_INT_BYTES, ID_INT_BYTES = 36, 28


class GraphStore:
    """Nodes, edges and forward-decayed weights; no events, no policy."""

    def __init__(self, half_life: float | None):
        self.half_life = half_life
        self.ref: float | None = None  # forward-decay reference time; None until an event
        self.now = -math.inf  # newest event time applied
        self._ids: list[dict[str, int]] = [{} for _ in NODE_KINDS]
        self._names: list[str] = []
        self._kind = bytearray()
        self._seen = array("d")  # newest event time per node
        self._adj: list[array[int]] = []  # interaction edges per node
        self._side: list[array[int] | None] = []  # the other edges per node
        self._free_nodes: list[int] = []
        self._edges: dict[int, int] = {}
        self._src, self._dst, self._type = array("i"), array("i"), bytearray()
        self._w, self._ts = array("d"), array("d")
        self._n = array("I")
        self._val, self._a, self._b = array("d"), array("f"), array("f")
        self._free_edges: list[int] = []
        self.type_counts = [0] * len(EDGE_TYPES)  # live edges per type
        self.name_bytes = 0  # sys.getsizeof of the node names held

    # -- nodes -------------------------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        return len(self._names) - len(self._free_nodes)

    @property
    def n_edges(self) -> int:
        return len(self._edges)

    def node(self, kind: int, name: str) -> int:
        """The id of node ``(kind, name)``, created when new."""
        v = self._ids[kind].get(name)
        return self._new_node(kind, name) if v is None else v

    def node_id(self, kind: int, name: str) -> int | None:
        """The id of node ``(kind, name)``, or None."""
        return self._ids[kind].get(name)

    def name(self, v: int) -> str:
        return self._names[v]

    def kind(self, v: int) -> int:
        return self._kind[v]

    def edges_of(self, v: int) -> array[int]:
        """Ids of the interaction edges at node ``v``, oldest first (do not modify)."""
        return self._adj[v]

    def side_of(self, v: int) -> array[int] | tuple[()]:
        """Ids of the other edges (co-edges, category, aspects) at ``v``, oldest first."""
        return self._side[v] or ()

    def _new_node(self, kind: int, name: str) -> int:
        self._ids[kind][name] = v = self._free_nodes.pop() if self._free_nodes else len(self._names)
        self.name_bytes += sys.getsizeof(name)
        if v == len(self._names):
            self._names.append(name)
            self._kind.append(kind)
            self._seen.append(-math.inf)
            self._adj.append(array("i"))
            self._side.append(None)
        else:
            self._names[v], self._kind[v], self._seen[v] = name, kind, -math.inf
            self._adj[v], self._side[v] = array("i"), None
        return v

    # -- edges -------------------------------------------------------------------------------

    def edge_id(self, etype: int, u: int, v: int) -> int | None:
        """The id of the ``etype`` edge from ``u`` to ``v`` (either way for co-edges), or None."""
        if etype in CO_EDGES and v < u:
            u, v = v, u
        return self._edges.get(((u << 32) | v) << 3 | etype)

    def touch(self, etype: int, u: int, v: int, ts: float, inc: float) -> int:
        """Add ``inc`` (already forward-scaled, see :meth:`advance`) to an edge, creating it."""
        if etype >= FIRST_CO and v < u:  # co-edges are stored once, smaller id first
            u, v = v, u
        key = ((u << 32) | v) << 3 | etype
        e = self._edges.get(key)
        if e is None:
            e = self._new_edge(key, etype, u, v)
        weights, last = self._w, self._ts
        w = weights[e] + inc
        weights[e] = w if w > 0.0 else 0.0
        self._n[e] += 1
        if ts > last[e]:
            last[e] = ts
        seen = self._seen
        if ts > seen[u]:
            seen[u] = ts
        if ts > seen[v]:
            seen[v] = ts
        return e

    def _new_edge(self, key: int, etype: int, u: int, v: int) -> int:
        if self._free_edges:
            e = self._free_edges.pop()
            self._src[e], self._dst[e], self._type[e] = u, v, etype
            self._w[e] = self._ts[e] = self._val[e] = self._a[e] = self._b[e] = 0.0
            self._n[e] = 0
        else:
            e = len(self._type)
            self._src.append(u)
            self._dst.append(v)
            self._type.append(etype)
            for column in (self._w, self._ts, self._val, self._a, self._b):
                column.append(0.0)
            self._n.append(0)
        self._edges[key] = e
        self.type_counts[etype] += 1
        if etype <= LAST_INTERACTION:
            self._adj[u].append(e)
            self._adj[v].append(e)
        else:
            self._side_add(u, e)
            self._side_add(v, e)
        return e

    def _side_add(self, v: int, e: int) -> None:
        side = self._side[v]
        if side is None:
            self._side[v] = array("i", (e,))
        else:
            side.append(e)

    def count(self, e: int) -> int:
        return self._n[e]

    def weight(self, e: int) -> float:
        """Weight of edge ``e`` as of :attr:`now`."""
        return self._w[e] * self.decay()

    def remove_edges(self, edges: list[int]) -> int:
        """Remove ``edges`` (live ids, ascending) and the nodes left bare; the nodes removed."""
        touched: set[int] = set()
        for e in edges:
            u, v, t = self._src[e], self._dst[e], self._type[e]
            del self._edges[((u << 32) | v) << 3 | t]
            self._type[e] = FREE
            self.type_counts[t] -= 1
            self._free_edges.append(e)
            touched.update((u, v))
        types, bare = self._type, []
        for v in sorted(touched):
            self._adj[v] = kept = array("i", [e for e in self._adj[v] if types[e] != FREE])
            side = self._side[v]
            if side is not None:
                side = array("i", [e for e in side if types[e] != FREE]) or None
                self._side[v] = side
            if not kept and side is None:
                bare.append(v)
        for v in bare:
            self._remove_node(v)
        return len(bare)

    def _remove_node(self, v: int) -> None:
        name = self._names[v]
        del self._ids[self._kind[v]][name]
        self.name_bytes -= sys.getsizeof(name)
        self._names[v], self._kind[v] = "", FREE
        self._adj[v], self._side[v] = array("i"), None
        self._free_nodes.append(v)

    # -- time --------------------------------------------------------------------------------

    def advance(self, ts: float) -> float:
        """Move :attr:`now` to ``ts`` if newer; the forward-decay factor of an event at ``ts``."""
        if ts > self.now:
            self.now = ts
        if self.half_life is None:
            return 1.0
        if self.ref is None:
            self.ref = ts
        exponent = (ts - self.ref) / self.half_life
        if exponent > MAX_EXPONENT:
            self._rebase(ts)
            exponent = 0.0
        return 2.0**exponent

    def decay(self) -> float:
        """Factor from stored (forward-decayed) weights to weights as of :attr:`now`."""
        if self.half_life is None or self.ref is None:
            return 1.0
        return 2.0 ** ((self.ref - self.now) / self.half_life)

    def _rebase(self, ts: float) -> None:
        assert self.ref is not None and self.half_life is not None
        factor = 2.0 ** ((self.ref - ts) / self.half_life)
        weights = np.frombuffer(self._w, dtype=np.float64)
        weights *= factor
        del weights  # release the buffer so the array can grow again
        self.ref = ts
