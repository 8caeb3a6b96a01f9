"""``pulse tail``: a topic's messages as JSON lines, headers included."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from streams.security import kafka_options
from streams.settings import Settings


def render(message: Any) -> bytes:
    """One consumed message as a JSON line: value parsed when it is JSON, else as text."""
    try:
        value: Any = orjson.loads(message.value) if message.value else None
    except orjson.JSONDecodeError:
        value = message.value.decode("utf-8", "replace")
    line = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "key": message.key.decode("utf-8", "replace") if message.key else None,
        "headers": {k: v.decode("utf-8", "replace") for k, v in (message.headers or ())},
        "value": value,
    }
    return orjson.dumps(line)


async def tail_topic(
    settings: Settings, bootstrap: str, topic: str, from_beginning: bool, limit: int | None
) -> int:
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        **kafka_options(settings),
    )
    await consumer.start()
    shown = 0
    try:
        async for message in consumer:
            sys.stdout.buffer.write(render(message) + b"\n")
            sys.stdout.buffer.flush()
            shown += 1
            if limit is not None and shown >= limit:
                break
    finally:
        await consumer.stop()
    return shown
