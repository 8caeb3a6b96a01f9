"""The feedback replica: every worker applies the whole feedback log, in order.

It reads the single-partition feedback topic outside any consumer group (each
worker gets every record) and feeds the local recommenders, deduplicating by
event id (a crash may append an event twice). Queries are served from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from models.popularity import DecayedPopularity
from streams.metrics import Metrics
from streams.settings import Settings
from streams.topics import FEEDBACK

log = logging.getLogger(__name__)

#: Interaction weights of the popularity model: view < favourite < cart < purchase.
WEIGHTS = {"view": 1.0, "favorite": 2.0, "add_to_cart": 3.0, "sale": 5.0}


class RecentIds:
    """Event ids seen recently, bounded by count (oldest forgotten first).

    >>> ids = RecentIds(2)
    >>> [ids.add(x) for x in "aab"], ids.add("c"), "a" in ids
    ([True, False, True], True, False)
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, event_id: str) -> bool:
        """Remember ``event_id``; False if it was already known."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.limit:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids


class FeedbackReplica:
    """Applies feedback-log records to this worker's recommender replicas."""

    def __init__(self, settings: Settings, bootstrap: str, metrics: Metrics):
        self.settings = settings
        self.bootstrap = bootstrap
        self.metrics = metrics
        self.popularity = DecayedPopularity(half_life=settings.popularity_half_life)
        self.recent = RecentIds(settings.replica_dedup_ids)
        self.offset = 0
        self.applied = 0

    def apply(self, value: bytes) -> bool:
        """Apply one feedback record; False for a repeat or an unreadable record."""
        try:
            record = orjson.loads(value)
            topic, event = record["topic"], record["event"]
            event_id = str(event["event_id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.metrics.feedback_applied.labels(outcome="invalid").inc()
            return False
        if not self.recent.add(event_id):
            self.metrics.feedback_applied.labels(outcome="duplicate").inc()
            return False
        try:
            self._learn(topic, event)
        except (KeyError, TypeError, ValueError) as exc:  # never stop following the log
            log.warning("feedback record %s not applied: %r", event.get("event_id"), exc)
            self.metrics.feedback_applied.labels(outcome="invalid").inc()
            return False
        self.applied += 1
        self.metrics.feedback_applied.labels(outcome="applied").inc()
        return True

    def _learn(self, topic: str, event: dict[str, Any]) -> None:
        kind = (
            event.get("action") if topic == "clicks" else topic[:-1] if topic == "sales" else None
        )
        if kind == "remove_from_cart" or kind not in WEIGHTS:
            if topic == "reviews" and (event.get("rating") or 0) >= 4:
                kind = "favorite"
            else:
                return
        self.popularity.learn_one(
            event["user_id"],
            event["product_id"],
            WEIGHTS[kind],
            event["ts"],
            category_id=event.get("category_id"),
            purchased=kind == "sale",
        )

    def recommend(self, user_id: str, k: int) -> list[tuple[str, float]]:
        return self.popularity.rank(user_id, k)

    async def run(self) -> None:
        """Follow the feedback log until cancelled."""
        tp = TopicPartition(self.settings.topic(FEEDBACK), 0)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            consumer.seek(tp, self.offset)
            while True:
                batches = await consumer.getmany(tp, timeout_ms=200, max_records=5000)
                for record in batches.get(tp, ()):
                    self.apply(record.value)
                    self.offset = record.offset + 1
                self.metrics.feedback_offset.set(self.offset)
                self.metrics.reco_items.set(len(self.popularity))
                await asyncio.sleep(0)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
