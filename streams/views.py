"""HTTP API (Faust web): health, metrics, product state, top products, recommendations.

A product's state lives on the worker that owns its partition:
``/products/{id}`` is routed there. Recommendations come from this worker's
replica of the feedback log, so any worker answers them.
"""

from __future__ import annotations

import heapq
import time
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View

from streams.state import ProductState
from streams.tables import get

if TYPE_CHECKING:
    from streams.app import Pulse

MAX_K = 1000
MAX_LIST = 100_000


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
            state = ProductState.from_dict(stored["s"])
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
            items = {k.decode(): data[k]["s"]["totals"] for k in keys}
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

    @app.page("/recommendations/{user_id}")
    class Recommendations(View):
        async def get(self, request: Request, user_id: str) -> Response:
            try:
                k = _int_arg(request, "k", 10, MAX_K)
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            items = pulse.replica.recommend(user_id, k)
            return self.json(
                {
                    "user_id": user_id,
                    "model": "popularity",
                    "items": [
                        {"product_id": i, "score": s, "reason": "popular now"} for i, s in items
                    ],
                }
            )


def top_products(data: Any, n: int) -> list[dict[str, Any]]:
    """The ``n`` products with the most events in their last hour (this worker's share)."""
    now = time.time()
    snapshots = []
    for pid, stored in list(data.items()):
        snap = ProductState.from_dict(stored["s"]).snapshot(now)
        snapshots.append({"product_id": pid.decode(), **snap})
    return heapq.nlargest(n, snapshots, key=lambda s: (s["totals"]["views"], s["product_id"]))
