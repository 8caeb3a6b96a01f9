"""Faust transport for the embedded Tansu broker: exact end offsets for table recovery.

Tansu answers ListOffsets(LATEST) with the last *batch's base offset* + 1 rather
than the last offset + 1. Faust reads that as a changelog's highwater when it
rebuilds a table, so it would stop before the last batch and lose updates. A
Fetch response carries the correct high watermark, so this transport reads the
end offsets from one fetch of each partition's last batch. Pulse uses it only
when it started the embedded broker itself (``Settings.embedded``); on Apache
Kafka :class:`streams.consumer.PulseTransport` runs, without this change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, cast

import aiokafka
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.consumer import PulseConsumer, PulseTransport

log = logging.getLogger(__name__)


async def fetched_end_offsets(
    bootstrap: str | list[str],
    partitions: Iterable[TopicPartition],
    listed: Mapping[TopicPartition, int],
    timeout_ms: int = 2_000,
    options: Mapping[str, Any] | None = None,
) -> dict[TopicPartition, int]:
    """End offsets (last offset + 1) of ``partitions`` read from a Fetch.

    ``listed`` holds what ListOffsets answered; it points into the last batch,
    which is fetched to learn where that batch ends.
    """
    pending = {tp for tp in partitions if listed.get(tp, 0) > 0}
    result: dict[TopicPartition, int] = {tp: 0 for tp in partitions if tp not in pending}
    if not pending:
        return result
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        isolation_level="read_uncommitted",
        **(options or {}),
    )
    await consumer.start()
    try:
        consumer.assign(sorted(pending))
        for tp in pending:
            consumer.seek(tp, listed[tp] - 1)
            result[tp] = listed[tp]
        await _read_tail(consumer, pending, result, timeout_ms)
    finally:
        await consumer.stop()
    return result


async def _read_tail(
    consumer: aiokafka.AIOKafkaConsumer,
    pending: set[TopicPartition],
    result: dict[TopicPartition, int],
    timeout_ms: int,
) -> None:
    remaining = set(pending)
    for _ in range(max(1, timeout_ms // 100)):
        batches = await consumer.getmany(*remaining, timeout_ms=100)
        for tp, records in batches.items():
            if records:
                result[tp] = max(result[tp], records[-1].offset + 1)
        for tp in list(remaining):
            highwater = consumer.highwater(tp)
            if highwater is not None and tp in batches:
                result[tp] = max(result[tp], highwater)
                remaining.discard(tp)
        if not remaining:
            return
    log.warning("end offsets of %s read from ListOffsets only (no fetch answered)", remaining)


class _Consumer(PulseConsumer):
    async def highwaters(self, *partitions: TopicPartition) -> Mapping[TopicPartition, int]:
        listed = await super().highwaters(*partitions)
        transport = self.transport
        bootstrap = faust_aiokafka.server_list(transport.url, transport.default_port)  # type: ignore[attr-defined]
        kafka_tps = {TopicPartition(tp.topic, tp.partition): tp for tp in partitions}
        ends = await fetched_end_offsets(
            bootstrap,
            kafka_tps,
            {TopicPartition(tp.topic, tp.partition): n for tp, n in listed.items()},
            options=getattr(self.app, "kafka_options", None),
        )
        return {kafka_tps[tp]: n for tp, n in ends.items()}


class TansuTransport(PulseTransport):
    """Pulse's transport with end offsets read from a Fetch."""

    Consumer = cast(Any, _Consumer)
