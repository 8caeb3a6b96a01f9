"""The graph as networkx objects: for analysis, drawing, checking queries, and the memory baseline.

:func:`to_networkx` builds a ``MultiDiGraph`` whose nodes are ``"kind:name"``
strings (with a ``kind`` attribute) and whose edges are keyed by type, each with
the attributes :func:`edge_data` gives. It is what the compact store is measured
against in ``bench/graph.py``, and what tests run networkx's own algorithms on.

>>> from graph.knowledge import KnowledgeGraph
>>> g = KnowledgeGraph(half_life=None)
>>> _ = g.apply({"topic": "clicks", "event": {"event_id": "e1", "ts": 1e9, "user_id": "u1",
...              "product_id": "p1", "action": "view"}})
>>> list(to_networkx(g).edges(keys=True, data=True))
[('user:u1', 'product:p1', 'viewed', {'weight': 1.0, 'last_ts': 1000000000.0, 'count': 1})]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import networkx as nx

from graph.schema import EDGE_FIELDS, EDGE_TYPES, FREE, NODE_KINDS
from graph.store import GraphStore


def node_key(g: GraphStore, v: int) -> str:
    """``"kind:name"`` of node ``v``."""
    return f"{NODE_KINDS[g.kind(v)]}:{g.name(v)}"


def edge_data(g: GraphStore, e: int, decay: float | None = None) -> dict[str, Any]:
    """Attributes of edge ``e``: weight (as of ``g.now``), last_ts, count and its typed fields."""
    t = g._type[e]
    data: dict[str, Any] = {
        "weight": g._w[e] * (g.decay() if decay is None else decay),
        "last_ts": g._ts[e],
        "count": g._n[e],
    }
    for name, column in zip(EDGE_FIELDS[t], (g._val, g._a, g._b), strict=True):
        if name is not None:
            data[name] = int(column[e]) if name in ("positive", "negative") else column[e]
    return data


def live_edges(g: GraphStore) -> Iterator[int]:
    """Ids of the live edges, ascending."""
    types = g._type
    return (e for e in range(len(types)) if types[e] != FREE)


def to_networkx(g: GraphStore) -> nx.MultiDiGraph:
    """A ``MultiDiGraph`` with the same typed edges and attributes (co-edges point one way)."""
    out = nx.MultiDiGraph()
    keys: dict[int, str] = {}
    decay = g.decay()
    for e in live_edges(g):
        u, v = g._src[e], g._dst[e]
        for node in (u, v):
            if node not in keys:
                keys[node] = node_key(g, node)
                out.add_node(keys[node], kind=NODE_KINDS[g.kind(node)])
        out.add_edge(keys[u], keys[v], key=EDGE_TYPES[g._type[e]], **edge_data(g, e, decay))
    return out
