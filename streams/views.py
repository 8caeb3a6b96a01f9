"""HTTP API (Faust web): health, metrics, product state, top products, recommendations,
and the knowledge graph.

A product's state lives on the worker that owns its partition:
``/products/{id}`` is routed there. Recommendations and the ``/graph/...`` views
come from this worker's replica of the feedback log, so any worker answers them
(as of the offset ``/graph/stats`` reports). An id the graph does not hold is a 404.
"""

from __future__ import annotations

import heapq
import time
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View

from graph.queries import product_aspects, random_walk, related_products, user_neighbourhood
from graph.schema import PRODUCT, USER
from streams.processor import stored_dict, stored_state
from streams.tables import get

if TYPE_CHECKING:
    from streams.app import Pulse

MAX_K = 1000
MAX_LIST = 100_000
#: Most answers of a graph view (``k``).
MAX_GRAPH_K = 200
GRAPH_OFF = "the knowledge graph is off on this worker (PULSE_GRAPH_ENABLED=false)"
RECO_OFF = "the hybrid recommender is off on this worker (PULSE_RECO_ENABLED=false)"


def _int_arg(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query.get(name, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise ValueError(f"{name} must be an integer from 1 to {high}, got {raw!r}")
    return int(raw)


def register(pulse: Pulse) -> None:
    """Add Pulse's views to ``pulse.app``."""
    app, tables = pulse.app, pulse.tables

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            ready = pulse.ready
            body = {
                "status": "ok" if ready else "starting",
                "ready": ready,
                "uptime_s": round(time.time() - pulse.started, 3),
                "ready_after_s": round(pulse.ready_at - pulse.started, 3)
                if pulse.ready_at
                else None,
                "assigned_partitions": sorted(
                    tp.partition
                    for tp in app.assignor.assigned_actives()
                    if tp.topic == pulse.settings.topic("clicks")
                ),
                "feedback_offset": pulse.replica.offset,
            }
            return self.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(pulse.metrics.render(), content_type="text/plain; version=0.0.4")

    @app.page("/products/{product_id}")
    class Product(View):
        @app.table_route(table=tables.products, match_info="product_id")  # type: ignore[arg-type]
        async def get(self, request: Request, product_id: str) -> Response:
            stored = get(tables.products, product_id)
            if stored is None:
                return self.json({"error": f"unknown product {product_id!r}"}, status=404)
            state = stored_state(stored)
            at = None if request.query.get("at") == "latest" else time.time()
            return self.json({"product_id": product_id, **state.snapshot(at)})

    @app.page("/products")
    class Products(View):
        async def get(self, request: Request) -> Response:
            """Totals of every product this worker holds (its partitions), for audits."""
            try:
                limit = _int_arg(request, "limit", 1000, MAX_LIST)
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            after = request.query.get("after", "").encode()
            data = tables.products.data
            keys = sorted(k for k in data if k > after)[:limit]
            items = {k.decode(): stored_dict(data[k])["s"]["totals"] for k in keys}
            last = keys[-1].decode() if len(keys) == limit else None
            return self.json({"products": items, "next": last})

    @app.page("/top-products")
    class TopProducts(View):
        async def get(self, request: Request) -> Response:
            try:
                n = _int_arg(request, "n", 10, MAX_K)
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"products": top_products(tables.products.data, n)})

    register_graph(pulse)

    register_reco(pulse)


def register_reco(pulse: Pulse) -> None:
    """``/recommendations/{user_id}`` (the hybrid; popularity when it is off) and
    ``/reco/stats``."""
    app = pulse.app

    @app.page("/recommendations/{user_id}")
    class Recommendations(View):
        async def get(self, request: Request, user_id: str) -> Response:
            try:
                k = _int_arg(request, "k", 10, MAX_K)
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            raw = request.query.get("exclude_categories", "")
            excluded = {c.strip() for c in raw.split(",") if c.strip()}
            replica = pulse.replica
            body: dict[str, Any] = {"user_id": user_id, "offset": replica.offset}
            if replica.reco is not None:
                items = replica.reco.recommend(user_id, k, exclude_categories=excluded)
                return self.json({**body, "model": "hybrid", "items": items})
            ranked = replica.recommend(user_id, k, exclude_categories=excluded)
            return self.json(
                {
                    **body,
                    "model": "popularity",
                    "items": [
                        {"product_id": i, "score": s, "reason": "popular now", "source": "popular"}
                        for i, s in ranked
                    ],
                }
            )

    @app.page("/reco/stats")
    class RecoStats(View):
        async def get(self, request: Request) -> Response:
            reco = pulse.replica.reco
            if reco is None:
                return self.json({"error": RECO_OFF}, status=404)
            with_digest = request.query.get("digest", "") in ("1", "true", "yes")
            return self.json(reco.stats(pulse.replica.offset, with_digest))


def register_graph(pulse: Pulse) -> None:
    """The ``/graph/...`` views: one per query of :mod:`graph.queries`, and stats."""
    app = pulse.app

    def ask(view: View, request: Request, kind: int, name: str, default: int) -> Any:
        """``(graph, k)``, or an error response (400: bad k; 404: unknown id, or no graph)."""
        replica = pulse.replica.graph
        if replica is None:
            return view.json({"error": GRAPH_OFF}, status=404)
        try:
            k = _int_arg(request, "k", default, MAX_GRAPH_K)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        if replica.graph.node_id(kind, name) is None:
            what = "product" if kind == PRODUCT else "user"
            return view.json({"error": f"unknown {what} {name!r}"}, status=404)
        return replica.graph, k

    @app.page("/graph/products/{product_id}/related")
    class Related(View):
        async def get(self, request: Request, product_id: str) -> Response:
            asked = ask(self, request, PRODUCT, product_id, 10)
            if not isinstance(asked, tuple):  # the error response
                return asked
            g, k = asked
            return self.json(
                {"product_id": product_id, "related": related_products(g, product_id, k)}
            )

    @app.page("/graph/products/{product_id}/aspects")
    class Aspects(View):
        async def get(self, request: Request, product_id: str) -> Response:
            asked = ask(self, request, PRODUCT, product_id, 5)
            if not isinstance(asked, tuple):  # the error response
                return asked
            g, k = asked
            return self.json(product_aspects(g, product_id, k))

    @app.page("/graph/users/{user_id}/neighbourhood")
    class Neighbourhood(View):
        async def get(self, request: Request, user_id: str) -> Response:
            asked = ask(self, request, USER, user_id, 20)
            if not isinstance(asked, tuple):  # the error response
                return asked
            g, k = asked
            return self.json(user_neighbourhood(g, user_id, k))

    @app.page("/graph/users/{user_id}/walk")
    class Walk(View):
        async def get(self, request: Request, user_id: str) -> Response:
            asked = ask(self, request, USER, user_id, 10)
            if not isinstance(asked, tuple):  # the error response
                return asked
            g, k = asked
            items = random_walk(g, user_id, k)
            return self.json(
                {
                    "user_id": user_id,
                    "model": "rp3beta",
                    "items": [{"product_id": p, "score": s} for p, s in items],
                }
            )

    @app.page("/graph/stats")
    class Stats(View):
        async def get(self, request: Request) -> Response:
            replica = pulse.replica.graph
            if replica is None:
                return self.json({"error": GRAPH_OFF}, status=404)
            with_digest = request.query.get("digest", "") in ("1", "true", "yes")
            return self.json(replica.stats(pulse.replica.offset, with_digest))


def top_products(data: Any, n: int) -> list[dict[str, Any]]:
    """The ``n`` products with the most events in their last hour (this worker's share)."""
    now = time.time()
    snapshots = []
    for pid, stored in list(data.items()):
        snap = stored_state(stored).snapshot(now)
        snapshots.append({"product_id": pid.decode(), **snap})
    return heapq.nlargest(n, snapshots, key=lambda s: (s["totals"]["views"], s["product_id"]))
