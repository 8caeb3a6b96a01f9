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

import numpy as np

from graph.ranking import top_k
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
from graph.walk import WALK_WEIGHTS, random_walk

__all__ = [
    "WALK_WEIGHTS",
    "product_aspects",
    "random_walk",
    "related_products",
    "stats",
    "user_neighbourhood",
]

#: Score of each co-edge type in :func:`related_products`.
RELATED_WEIGHTS = {"co_bought": 1.0, "co_viewed": 0.5}


def _top(g: GraphStore, scored: Iterable[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    return heapq.nsmallest(k, scored, key=lambda item: (-item[1], g.name(item[0])))


def related_products(
    g: GraphStore, product_id: str, k: int = 10, weights: Mapping[str, float] = RELATED_WEIGHTS
) -> list[dict[str, Any]]:
    """Products bought or viewed together with ``product_id``, strongest first.

    Each: ``{"product_id", "score", "co_bought", "co_viewed"}`` (decayed weights;
    score is their sum weighted by ``weights``; ties by product id).
    """
    p = g.node_id(PRODUCT, product_id)
    if p is None or k <= 0 or not g.side_of(p):
        return []
    side = np.frombuffer(g._side[p], dtype=np.int32)  # type: ignore[arg-type]
    types = np.frombuffer(g._type, dtype=np.uint8)[side]
    co = types >= CO_BOUGHT  # co_bought and co_viewed are the last two type codes
    edges, types = side[co], types[co]
    del side  # release the view: the adjacency array may grow again
    src = np.frombuffer(g._src, dtype=np.int32)[edges]
    other = np.where(src == p, np.frombuffer(g._dst, dtype=np.int32)[edges], src)
    w = np.frombuffer(g._w, dtype=np.float64)[edges] * g.decay()
    products, index = np.unique(other, return_inverse=True)
    bought = np.bincount(
        index, weights=np.where(types == CO_BOUGHT, w, 0.0), minlength=len(products)
    )
    viewed = np.bincount(
        index, weights=np.where(types == CO_VIEWED, w, 0.0), minlength=len(products)
    )
    scores = bought * weights.get("co_bought", 0.0) + viewed * weights.get("co_viewed", 0.0)
    top = top_k(g, products, scores, k)
    at = np.searchsorted(products, [v for _, _, v in top])  # products is sorted
    return [
        {"product_id": name, "score": s, "co_bought": b, "co_viewed": c}
        for (name, s, _), b, c in zip(top, bought[at].tolist(), viewed[at].tolist(), strict=True)
    ]


def product_aspects(g: GraphStore, product_id: str, k: int = 5) -> dict[str, Any]:
    """What reviews of ``product_id`` praise and complain about.

    ``{"product_id", "aspects": n, "mentions", "mean_sentiment", "praised": [...],
    "complained": [...]}`` (mentions and their mean sentiment over every aspect); each
    entry ``{"aspect", "mentions", "positive", "negative", "mean_sentiment", "weight"}``.
    Praised: mean sentiment above zero, most positive mentions first; complained:
    below zero, most negative mentions first.
    """
    p = g.node_id(PRODUCT, product_id)
    rows = [] if p is None else [_aspect_row(g, e) for e in _typed(g, p, HAS_ASPECT)]
    praised = [r for r in rows if r["mean_sentiment"] > 0]
    complained = [r for r in rows if r["mean_sentiment"] < 0]
    praised.sort(key=lambda r: (-r["positive"], -r["mean_sentiment"], r["aspect"]))
    complained.sort(key=lambda r: (-r["negative"], r["mean_sentiment"], r["aspect"]))
    mentions = sum(r["mentions"] for r in rows)
    total = sum(r["mean_sentiment"] * r["mentions"] for r in rows)
    return {
        "product_id": product_id,
        "aspects": len(rows),
        "mentions": mentions,
        "mean_sentiment": total / mentions if mentions else 0.0,
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
