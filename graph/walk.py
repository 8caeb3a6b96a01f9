"""Random-walk scores for a user: RP3beta over the interaction edges, vectorised with numpy.

Three steps, user -> product -> user -> product. A step leaves a node along its
``fanout`` most recent interaction edges, with probability proportional to
``weights[type] * weight`` (the decay factor, the same for every edge, cancels);
after the second step only the ``beam`` heaviest users go on. A product's score
is the probability of reaching it divided by its interaction degree to the power
``beta`` (Paudel et al., 2016; ``beta=0`` is plain P3), so hubs do not win by
degree alone. Bounded work: at most ``fanout * (1 + fanout + beam)`` edges.

>>> from graph.knowledge import KnowledgeGraph
>>> g = KnowledgeGraph(half_life=None, aspects=None)
>>> for i, (user, product) in enumerate([("a", "p1"), ("b", "p1"), ("b", "p2"), ("b", "p3")]):
...     _ = g.apply({"topic": "sales", "event": {"event_id": str(i), "ts": 1e9 + i,
...                  "user_id": user, "product_id": product}})
>>> [(p, round(s, 3)) for p, s in random_walk(g, "a")]
[('p2', 0.167), ('p3', 0.167)]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from graph.ranking import top_k
from graph.schema import EDGE_TYPES, USER
from graph.store import GraphStore

#: Transition weight of each interaction type (times the edge's weight).
WALK_WEIGHTS = {"viewed": 1.0, "carted": 3.0, "bought": 5.0, "reviewed": 4.0}
#: Most edges followed out of one node (its most recent), and most users kept after step two.
FANOUT, BEAM = 50, 200

Mass = tuple[np.ndarray, np.ndarray]  # node ids, probability mass


def random_walk(
    g: GraphStore,
    user_id: str,
    k: int = 10,
    beta: float = 0.5,
    exclude_seen: bool = True,
    weights: Mapping[str, float] = WALK_WEIGHTS,
    fanout: int = FANOUT,
    beam: int = BEAM,
) -> list[tuple[str, float]]:
    """``[(product_id, score)]``, best first (ties by id), leaving out products the user
    already interacted with when ``exclude_seen``; empty for an unknown user."""
    u = g.node_id(USER, user_id)
    if u is None or k <= 0:
        return []
    by_type = np.array([weights.get(name, 0.0) for name in EDGE_TYPES])
    items = _step(g, (np.array([u]), np.ones(1)), by_type, fanout)
    users = _step(g, items, by_type, fanout)
    keep = users[0] != u
    users = _heaviest(users[0][keep], users[1][keep], beam)
    products, mass = _step(g, users, by_type, fanout)
    if exclude_seen:
        own = np.frombuffer(g.edges_of(u), dtype=np.int32)
        unseen = ~np.isin(products, np.frombuffer(g._dst, dtype=np.int32)[own])
        del own
        products, mass = products[unseen], mass[unseen]
    degree = np.array([len(g.edges_of(p)) for p in products.tolist()], dtype=np.float64)
    return [(name, s) for name, s, _ in top_k(g, products, mass / degree**beta, k)]


def _step(g: GraphStore, mass: Mass, by_type: np.ndarray, fanout: int) -> Mass:
    """Spread each node's mass over its ``fanout`` most recent interaction edges."""
    nodes, masses = mass
    chunks = [np.frombuffer(g.edges_of(v), dtype=np.int32)[-fanout:] for v in nodes.tolist()]
    lengths = np.array([len(c) for c in chunks], dtype=np.int64)
    if not lengths.sum():
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    edges = np.concatenate(chunks)
    del chunks  # release the views on the adjacency arrays (they may grow again)
    owner = np.repeat(nodes, lengths)
    src = np.frombuffer(g._src, dtype=np.int32)[edges]
    dst = np.frombuffer(g._dst, dtype=np.int32)[edges]
    w = by_type[np.frombuffer(g._type, dtype=np.uint8)[edges]]
    w *= np.frombuffer(g._w, dtype=np.float64)[edges]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[lengths > 0]
    totals = np.repeat(np.add.reduceat(w, starts), lengths[lengths > 0])
    share = np.divide(w, totals, out=np.zeros_like(w), where=totals > 0)
    share *= np.repeat(masses, lengths)
    other = np.where(src == owner, dst, src)
    reached, index = np.unique(other, return_inverse=True)
    summed = np.bincount(index, weights=share, minlength=len(reached))
    positive = summed > 0
    return reached[positive], summed[positive]


def _heaviest(nodes: np.ndarray, mass: np.ndarray, n: int) -> Mass:
    """The ``n`` heaviest nodes (ties: lower id first)."""
    if len(nodes) <= n:
        return nodes, mass
    order = np.lexsort((nodes, -mass))[:n]
    return nodes[order], mass[order]
