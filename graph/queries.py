"""Queries: plain functions over a :class:`~graph.knowledge.KnowledgeGraph`, JSON-ready answers.

Weights are as of the graph's newest event time; ties are broken by name, so
replicas holding the same graph answer alike. Unknown ids give empty answers.

>>> from graph.knowledge import KnowledgeGraph
>>> g = KnowledgeGraph(half_life=None, aspects=None)
>>> for i, (user, product) in enumerate([("a", "p1"), ("a", "p2"), ("b", "p1"), ("b", "p3")]):
...     _ = g.apply({"topic": "sales", "event": {"event_id": str(i), "ts": 1e9 + i,
...                  "user_id": user, "product_id": product}})
>>> [r["product_id"] for r in related_products(g, "p1")]
['p2', 'p3']
>>> [(p, round(s, 3)) for p, s in random_walk(g, "a")]
[('p3', 0.125)]
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Any

from graph.schema import (
    CO_BOUGHT,
    CO_VIEWED,
    EDGE_TYPES,
    HAS_ASPECT,
    IN_CATEGORY,
    NODE_KINDS,
    PRODUCT,
    USER,
)
from graph.store import GraphStore

#: Score of each co-edge type in :func:`related_products`.
RELATED_WEIGHTS = {"co_bought": 1.0, "co_viewed": 0.5}
#: Transition weight of each interaction type in :func:`random_walk` (times the edge weight).
WALK_WEIGHTS = {"viewed": 1.0, "carted": 3.0, "bought": 5.0, "reviewed": 4.0}
#: Most edges a walk follows out of one node (its most recent ones), and most users kept
#: after the second step (the heaviest).
FANOUT, BEAM = 50, 200


def _top(g: GraphStore, scored: Iterable[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    return heapq.nsmallest(k, scored, key=lambda item: (-item[1], g.name(item[0])))


def related_products(
    g: GraphStore, product_id: str, k: int = 10, weights: Mapping[str, float] = RELATED_WEIGHTS
) -> list[dict[str, Any]]:
    """Products bought or viewed together with ``product_id``, strongest first.

    Each: ``{"product_id", "score", "co_bought", "co_viewed"}`` (decayed weights;
    score is their sum weighted by ``weights``).
    """
    p = g.node_id(PRODUCT, product_id)
    if p is None or k <= 0:
        return []
    w_bought, w_viewed = weights.get("co_bought", 0.0), weights.get("co_viewed", 0.0)
    decay, parts = g.decay(), dict[int, list[float]]()
    types, src, dst, stored = g._type, g._src, g._dst, g._w
    for e in g.side_of(p):
        t = types[e]
        if t in (CO_BOUGHT, CO_VIEWED):
            q = dst[e] if src[e] == p else src[e]
            pair = parts.setdefault(q, [0.0, 0.0])
            pair[t == CO_VIEWED] += stored[e] * decay
    scored = ((q, b * w_bought + v * w_viewed) for q, (b, v) in parts.items())
    return [
        {"product_id": g.name(q), "score": s, "co_bought": parts[q][0], "co_viewed": parts[q][1]}
        for q, s in _top(g, scored, k)
    ]


def product_aspects(g: GraphStore, product_id: str, k: int = 5) -> dict[str, Any]:
    """What reviews of ``product_id`` praise and complain about.

    ``{"product_id", "aspects": n, "praised": [...], "complained": [...]}``; each entry
    ``{"aspect", "mentions", "positive", "negative", "mean_sentiment", "weight"}``.
    Praised: mean sentiment above zero, most positive mentions first; complained:
    below zero, most negative mentions first.
    """
    p = g.node_id(PRODUCT, product_id)
    rows = [] if p is None else [_aspect_row(g, e) for e in _typed(g, p, HAS_ASPECT)]
    praised = [r for r in rows if r["mean_sentiment"] > 0]
    complained = [r for r in rows if r["mean_sentiment"] < 0]
    praised.sort(key=lambda r: (-r["positive"], -r["mean_sentiment"], r["aspect"]))
    complained.sort(key=lambda r: (-r["negative"], r["mean_sentiment"], r["aspect"]))
    return {
        "product_id": product_id,
        "aspects": len(rows),
        "praised": praised[:k],
        "complained": complained[:k],
    }


def _aspect_row(g: GraphStore, e: int) -> dict[str, Any]:
    mentions = g._n[e]
    return {
        "aspect": g.name(g._dst[e]),
        "mentions": mentions,
        "positive": int(g._a[e]),
        "negative": int(g._b[e]),
        "mean_sentiment": g._val[e] / mentions if mentions else 0.0,
        "weight": g.weight(e),
    }


def _typed(g: GraphStore, v: int, etype: int) -> list[int]:
    types = g._type
    return [e for e in g.side_of(v) if types[e] == etype]


def user_neighbourhood(g: GraphStore, user_id: str, k: int = 20) -> dict[str, Any]:
    """A user's products (by interaction type) and the categories they fall in.

    ``{"user_id", "degree", "products": [{"product_id", "weight", "viewed", "carted",
    "bought", "reviewed"}], "categories": [{"category_id", "weight"}]}``, heaviest first;
    a product's weight sums its interaction weights, a category's its products'.
    """
    u = g.node_id(USER, user_id)
    if u is None:
        return {"user_id": user_id, "degree": 0, "products": [], "categories": []}
    decay, products = g.decay(), dict[int, dict[str, float]]()
    for e in g.edges_of(u):
        row = products.setdefault(g._dst[e], {})
        row[EDGE_TYPES[g._type[e]]] = g._w[e] * decay
    totals = {p: sum(row.values()) for p, row in products.items()}
    categories = dict[int, float]()
    for p, total in totals.items():
        for e in _typed(g, p, IN_CATEGORY):
            categories[g._dst[e]] = categories.get(g._dst[e], 0.0) + total
    return {
        "user_id": user_id,
        "degree": len(products),
        "products": [
            {"product_id": g.name(p), "weight": w, **products[p]}
            for p, w in _top(g, totals.items(), k)
        ],
        "categories": [
            {"category_id": g.name(c), "weight": w} for c, w in _top(g, categories.items(), k)
        ],
    }


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
    """Products a three-step walk user -> product -> user -> product reaches (RP3beta).

    A step follows a node's ``fanout`` most recent interaction edges with
    probability proportional to ``weights[type] * weight`` (the decay factor, the
    same for every edge, cancels); after the second step the ``beam`` heaviest
    users go on. A product's score is the probability of reaching it divided by
    its degree to the power ``beta`` (``beta=0`` is plain P3), so hubs do not win
    by degree alone. Products the user already interacted with are left out when
    ``exclude_seen``. Returns ``[(product_id, score)]``, best first.
    """
    u = g.node_id(USER, user_id)
    if u is None or k <= 0:
        return []
    by_type = [weights.get(name, 0.0) for name in EDGE_TYPES]
    items = _step(g, {u: 1.0}, by_type, fanout)
    users = _step(g, items, by_type, fanout)
    users.pop(u, None)
    if len(users) > beam:
        users = dict(_top(g, users.items(), beam))
    reached = _step(g, users, by_type, fanout)
    if exclude_seen:
        seen = {g._dst[e] for e in g.edges_of(u)}
        reached = {p: m for p, m in reached.items() if p not in seen}
    scored = ((p, m / len(g.edges_of(p)) ** beta) for p, m in reached.items())
    return [(g.name(p), s) for p, s in _top(g, scored, k)]


def _step(
    g: GraphStore, mass: Mapping[int, float], by_type: list[float], fanout: int
) -> dict[int, float]:
    """Spread each node's mass over its ``fanout`` most recent interaction edges."""
    types, src, dst, stored = g._type, g._src, g._dst, g._w
    out: dict[int, float] = {}
    for v, m in mass.items():
        adj = g.edges_of(v)
        picked: list[tuple[int, float]] = []
        total = 0.0
        for e in adj[-fanout:]:
            if (w := by_type[types[e]] * stored[e]) > 0.0:
                picked.append((dst[e] if src[e] == v else src[e], w))
                total += w
        for other, w in picked:
            out[other] = out.get(other, 0.0) + m * w / total
    return out


def stats(g: GraphStore) -> dict[str, Any]:
    """Sizes, clock and counters: ``{"nodes": {kind: n}, "edges": {type: n}, ...}``."""
    from graph.bounds import estimated_bytes

    counters = getattr(g, "counters", {})
    return {
        "nodes": {kind: len(g._ids[i]) for i, kind in enumerate(NODE_KINDS)},
        "edges": dict(zip(EDGE_TYPES, g.type_counts, strict=True)),
        "node_count": g.n_nodes,
        "edge_count": g.n_edges,
        "estimated_bytes": estimated_bytes(g),  # type: ignore[arg-type]
        "now": g.now if g.ref is not None else None,
        "half_life": g.half_life,
        "counters": dict(counters),
    }
