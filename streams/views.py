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

from streams import model_views
from streams.metrics import MODELS_FAMILIES
from streams.processor import stored_dict, stored_state
from streams.tables import get

if TYPE_CHECKING:
    from streams.app import Pulse

MAX_K = 1000
MAX_LIST = 100_000
#: Most answers of a graph view (``k``).
MAX_GRAPH_K = 200


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
                "models_process": None if pulse.models is None else pulse.models.pid,
            }
            return self.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            if pulse.models is None:  # no models process to report on
                text = pulse.metrics.render(without=("pulse_models_",))
            else:  # the graph's and the recommender's families come from their process
                own = pulse.metrics.render(without=MODELS_FAMILIES)
                text = own + await pulse.models.metrics_text()
            return self.bytes(text, content_type="text/plain; version=0.0.4")

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


def _answering(pulse: Pulse) -> Any:
    """``answer(name, args)``: a model view's status and body, from the models process
    when the worker has one (503 while it cannot answer), else from this replica."""

    async def answer(name: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if pulse.models is not None:
            return await pulse.models.view(name, args)
        return model_views.answer(pulse.replica, name, args)

    return answer


def _digest(request: Request) -> bool:
    return request.query.get("digest", "") in ("1", "true", "yes")


def register_reco(pulse: Pulse) -> None:
    """``/recommendations/{user_id}`` (the hybrid; popularity when it is off) and
    ``/reco/stats``."""
    app, answer = pulse.app, _answering(pulse)

    @app.page("/recommendations/{user_id}")
    class Recommendations(View):
        async def get(self, request: Request, user_id: str) -> Response:
            try:
                k = _int_arg(request, "k", 10, MAX_K)
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            raw = request.query.get("exclude_categories", "")
            excluded = sorted({c.strip() for c in raw.split(",") if c.strip()})
            args = {"user_id": user_id, "k": k, "exclude": excluded}
            status, body = await answer("recommendations", args)
            return self.json(body, status=status)

    @app.page("/reco/stats")
    class RecoStats(View):
        async def get(self, request: Request) -> Response:
            status, body = await answer("reco_stats", {"digest": _digest(request)})
            return self.json(body, status=status)


def register_graph(pulse: Pulse) -> None:
    """The ``/graph/...`` views: one per query of :mod:`graph.queries`, and stats."""
    app, answer = pulse.app, _answering(pulse)

    async def ask(view: View, request: Request, name: str, node: str, default: int) -> Response:
        """View ``name`` for ``node`` (400: bad k; 404: unknown id, or no graph)."""
        try:
            k = _int_arg(request, "k", default, MAX_GRAPH_K)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        status, body = await answer(name, {"id": node, "k": k})
        return view.json(body, status=status)

    @app.page("/graph/products/{product_id}/related")
    class Related(View):
        async def get(self, request: Request, product_id: str) -> Response:
            return await ask(self, request, "related", product_id, 10)

    @app.page("/graph/products/{product_id}/aspects")
    class Aspects(View):
        async def get(self, request: Request, product_id: str) -> Response:
            return await ask(self, request, "aspects", product_id, 5)

    @app.page("/graph/users/{user_id}/neighbourhood")
    class Neighbourhood(View):
        async def get(self, request: Request, user_id: str) -> Response:
            return await ask(self, request, "neighbourhood", user_id, 20)

    @app.page("/graph/users/{user_id}/walk")
    class Walk(View):
        async def get(self, request: Request, user_id: str) -> Response:
            return await ask(self, request, "walk", user_id, 10)

    @app.page("/graph/stats")
    class Stats(View):
        async def get(self, request: Request) -> Response:
            status, body = await answer("graph_stats", {"digest": _digest(request)})
            return self.json(body, status=status)


def top_products(data: Any, n: int) -> list[dict[str, Any]]:
    """The ``n`` products with the most events in their last hour (this worker's share)."""
    now = time.time()
    snapshots = []
    for pid, stored in list(data.items()):
        snap = stored_state(stored).snapshot(now)
        snapshots.append({"product_id": pid.decode(), **snap})
    return heapq.nlargest(n, snapshots, key=lambda s: (s["totals"]["views"], s["product_id"]))
