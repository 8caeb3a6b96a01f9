"""The live view of ``pulse up``: what the workers report, polled from their HTTP API.

:class:`Observer` gathers figures (events/s by outcome, top products, latest
decisions and dead letters); :func:`render` draws them with rich, or
:func:`summary_line` prints one plain line when the output is not a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from streams.security import kafka_options
from streams.settings import Settings
from streams.topics import DEAD_LETTER, DECISIONS


def event_counts(metrics_text: str) -> dict[tuple[str, str], float]:
    """``(topic, outcome) -> count`` from a worker's /metrics text.

    >>> event_counts('pulse_stream_events_total{topic="clicks",outcome="processed"} 3.0\\n')
    {('clicks', 'processed'): 3.0}
    """
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "pulse_stream_events_total":
                key = (sample.labels["topic"], sample.labels["outcome"])
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def metric_sum(metrics_text: str, name: str) -> float:
    """The sum of every sample named ``name`` in a worker's /metrics text.

    >>> metric_sum('pulse_stream_consumer_lag_messages{topic="clicks"} 3.0\\n'
    ...            'pulse_stream_consumer_lag_messages{topic="sales"} 4.0\\n',
    ...            "pulse_stream_consumer_lag_messages")
    7.0
    """
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == name
    )


@dataclass
class Snapshot:
    """What the live view shows at one moment."""

    at: float = 0.0
    counts: dict[tuple[str, str], float] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    produced: int = 0
    lag: float = 0.0  # input messages after the group's committed offsets, all workers


class Observer:
    """Polls every worker and follows the decisions and dead-letter topics."""

    def __init__(self, settings: Settings, bootstrap: str, urls: list[str]):
        self.settings = settings
        self.bootstrap = bootstrap
        self.urls = urls
        self.snapshot = Snapshot()
        self.decisions: deque[dict[str, Any]] = deque(maxlen=8)
        self.decisions_seen = 0
        self.dead_letters: deque[dict[str, Any]] = deque(maxlen=5)
        self.produced = 0
        self.prometheus_url: str | None = None  # set when `pulse up --observe` runs one

    async def poll(self, session: aiohttp.ClientSession) -> Snapshot:
        results = await asyncio.gather(*(self._worker(session, u) for u in self.urls))
        counts: dict[tuple[str, str], float] = {}
        products: list[dict[str, Any]] = []
        lag = sum(health.get("lag", 0.0) for health, _, _ in results)
        for _, worker_counts, top in results:
            for key, value in worker_counts.items():
                counts[key] = counts.get(key, 0.0) + value
            products.extend(top)
        now = time.monotonic()
        previous = self.snapshot
        span = max(1e-3, now - previous.at) if previous.at else None
        rates = _rates(previous.counts, counts, span) if span else {}
        products.sort(key=lambda p: (-p["totals"]["views"], p["product_id"]))
        self.snapshot = Snapshot(
            now, counts, rates, [r[0] for r in results], products[:10], self.produced, lag
        )
        return self.snapshot

    async def _worker(
        self, session: aiohttp.ClientSession, url: str
    ) -> tuple[dict[str, Any], dict[tuple[str, str], float], list[dict[str, Any]]]:
        try:
            async with session.get(f"{url}/health") as r:
                health = await r.json()
            async with session.get(f"{url}/metrics") as r:
                text = await r.text()
                counts = event_counts(text)
            health["lag"] = metric_sum(text, "pulse_stream_consumer_lag_messages")
            async with session.get(f"{url}/top-products?n=10") as r:
                top = (await r.json())["products"]
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError):
            return {"url": url, "status": "unreachable"}, {}, []
        return {"url": url, **health}, counts, top

    async def follow(self) -> None:
        """Keep the latest decisions and dead letters until cancelled."""
        topics = [self.settings.topic(DECISIONS), self.settings.topic(DEAD_LETTER)]
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="latest",
            enable_auto_commit=False,
            **kafka_options(self.settings),
        )
        await consumer.start()
        try:
            async for message in consumer:
                self._keep(message)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _keep(self, message: Any) -> None:
        if message.topic == self.settings.topic(DECISIONS):
            with contextlib.suppress(orjson.JSONDecodeError):
                self.decisions.appendleft(orjson.loads(message.value))
                self.decisions_seen += 1
            return
        headers = {k: v.decode("utf-8", "replace") for k, v in message.headers or ()}
        self.dead_letters.appendleft(
            {
                "topic": headers.get("pulse.topic"),
                "reason": headers.get("pulse.reason"),
                "detail": headers.get("pulse.detail", "")[:90],
            }
        )


def _rates(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float], span: float
) -> dict[str, float]:
    rates: dict[str, float] = {}
    for (_topic, outcome), value in after.items():
        delta = value - before.get((_topic, outcome), 0.0)
        rates[outcome] = rates.get(outcome, 0.0) + delta / span
    return rates


def summary_line(snap: Snapshot, observer: Observer) -> str:
    """One plain status line."""
    processed = sum(v for (_, o), v in snap.counts.items() if o == "processed")
    dead = sum(v for (_, o), v in snap.counts.items() if o == "dead_letter")
    ready = sum(1 for w in snap.workers if w.get("ready"))
    return (
        f"workers ready {ready}/{len(snap.workers)} | produced {observer.produced} | "
        f"processed {processed:.0f} ({snap.rates.get('processed', 0.0):.0f}/s) | "
        f"dead letters {dead:.0f} | decisions {observer.decisions_seen} | lag {snap.lag:.0f}"
    )


def render(snap: Snapshot, observer: Observer) -> Group:
    """The rich view: header line, top products, decisions, dead letters."""
    products = Table(title="Top products (by views)", expand=True)
    for col in (
        "product",
        "name",
        "views",
        "carts",
        "orders",
        "units",
        "revenue",
        "conv.",
        "stock",
        "views 1h",
        "views 1m",
    ):
        products.add_column(col, justify="left" if col in ("product", "name") else "right")
    for p in snap.products:
        products.add_row(*_product_row(p))
    decisions = Table(
        title="Latest decisions",
        expand=True,
        caption=None if observer.decisions else "none yet: decisions appear when rules fire",
    )
    for col in ("rule", "action", "subject", "reason"):
        decisions.add_column(col)
    for d in observer.decisions:
        decisions.add_row(
            str(d.get("rule_id")),
            str(d.get("action")),
            f"{d.get('subject_type')}:{d.get('subject_id')}",
            str(d.get("reason")),
        )
    dead = Table(title="Latest dead letters", expand=True)
    for col in ("topic", "reason", "detail"):
        dead.add_column(col)
    for d in observer.dead_letters:
        dead.add_row(str(d["topic"]), str(d["reason"]), str(d["detail"]))
    subtitle = f"Prometheus {observer.prometheus_url}" if observer.prometheus_url else None
    header = Panel(summary_line(snap, observer), title="Pulse", subtitle=subtitle)
    return Group(header, products, decisions, dead)


def _product_row(p: dict[str, Any]) -> list[str]:
    t, c = p["totals"], p.get("catalog", {})
    hour, minute = p.get("hopping_1h", {}), p.get("tumbling_1m", {})
    conv = t.get("conversion")
    return [
        p["product_id"],
        str(c.get("name") or "")[:24],
        str(t["views"]),
        str(t["carts"]),
        str(t["orders"]),
        str(t["units"]),
        f"{t['revenue']:.2f}",
        "-" if conv is None else f"{conv:.1%}",
        str(c.get("stock", "-")),
        str(hour.get("views", "-")),
        str(minute.get("views", "-")),
    ]
