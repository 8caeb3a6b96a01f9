"""Reading a topic back from the embedded broker, for integration tests."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord


async def consume(
    bootstrap: str, topic: str, n: int, timeout: float = 60.0
) -> list[ConsumerRecord]:
    """The first ``n`` records of ``topic`` (fewer if ``timeout`` s pass first)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < n and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(records)
    finally:
        await consumer.stop()
    return found


async def read_all(
    bootstrap: str, topic: str, settle: float = 3.0, timeout: float = 60.0, at_least: int = 1
) -> list[dict[str, Any]]:
    """Every JSON record of ``topic`` with its ``key``: waits for ``at_least``, then until
    ``settle`` s pass without a new one."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline, quiet_since = time.monotonic() + timeout, time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for r in records:
                    found.append({"key": r.key.decode(), **orjson.loads(r.value)})
                quiet_since = time.monotonic()
            if len(found) >= at_least and time.monotonic() - quiet_since > settle:
                break
    finally:
        await consumer.stop()
    return found
