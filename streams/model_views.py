"""The answers of the views over the feedback log's models (recommendations, graph).

:func:`answer` gives a view's status and JSON body from a :class:`~streams.replica.
FeedbackReplica`, whichever process holds it: the worker's own replica, or the models
process beside it (:mod:`streams.models_process`), which calls it for the worker's views.
Arguments arrive checked (``k`` in range); an unknown id, or a model that is off, is
answered here (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graph.queries import product_aspects, random_walk, related_products, user_neighbourhood
from graph.schema import PRODUCT, USER

if TYPE_CHECKING:
    from streams.replica import FeedbackReplica

GRAPH_OFF = "the knowledge graph is off on this worker (PULSE_GRAPH_ENABLED=false)"
RECO_OFF = "the hybrid recommender is off on this worker (PULSE_RECO_ENABLED=false)"

#: The graph views, by the kind of node their id names.
GRAPH_VIEWS = {"related": PRODUCT, "aspects": PRODUCT, "neighbourhood": USER, "walk": USER}

Answer = tuple[int, dict[str, Any]]


def answer(replica: FeedbackReplica, name: str, args: dict[str, Any]) -> Answer:
    """``(status, body)`` of view ``name`` with ``args``; KeyError for an unknown name."""
    if name == "recommendations":
        return 200, recommendations(replica, args["user_id"], args["k"], args["exclude"])
    if name == "reco_stats":
        if replica.reco is None:
            return 404, {"error": RECO_OFF}
        return 200, replica.reco.stats(replica.offset, args["digest"])
    if name == "graph_stats":
        if replica.graph is None:
            return 404, {"error": GRAPH_OFF}
        return 200, replica.graph.stats(replica.offset, args["digest"])
    kind = GRAPH_VIEWS[name]
    if replica.graph is None:
        return 404, {"error": GRAPH_OFF}
    g, node, k = replica.graph.graph, args["id"], args["k"]
    if g.node_id(kind, node) is None:
        return 404, {"error": f"unknown {'product' if kind == PRODUCT else 'user'} {node!r}"}
    if name == "related":
        return 200, {"product_id": node, "related": related_products(g, node, k)}
    if name == "aspects":
        return 200, product_aspects(g, node, k)
    if name == "neighbourhood":
        return 200, user_neighbourhood(g, node, k)
    items = random_walk(g, node, k)
    return 200, {
        "user_id": node,
        "model": "rp3beta",
        "items": [{"product_id": p, "score": s} for p, s in items],
    }


def recommendations(
    replica: FeedbackReplica, user_id: str, k: int, exclude: list[str]
) -> dict[str, Any]:
    """The hybrid's ``k`` best for the user (the popularity model's when it is off)."""
    body: dict[str, Any] = {"user_id": user_id, "offset": replica.offset}
    excluded = set(exclude)
    if replica.reco is not None:
        items = replica.reco.recommend(user_id, k, exclude_categories=excluded)
        return {**body, "model": "hybrid", "items": items}
    ranked = replica.recommend(user_id, k, exclude_categories=excluded)
    return {
        **body,
        "model": "popularity",
        "items": [
            {"product_id": i, "score": s, "reason": "popular now", "source": "popular"}
            for i, s in ranked
        ],
    }
