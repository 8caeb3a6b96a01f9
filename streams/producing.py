"""Publishing to Pulse's topics: JSON lines, dataset replays and the demo, at a set rate.

Events are keyed by ``product_id`` (the partitioning Pulse expects). Raw lines
are sent as they are, so a malformed line reaches Pulse and its dead-letter
topic exactly as a broken producer's would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from streams.codec import encode
from streams.security import kafka_options
from streams.settings import Settings

Item = tuple[str, BaseModel | bytes]


def key_of(value: BaseModel | bytes) -> bytes | None:
    """The partition key of an event: its product id (None when unreadable).

    >>> key_of(b'{"product_id": 42}'), key_of(b"not json")
    (b'42', None)
    """
    if isinstance(value, BaseModel):
        pid = getattr(value, "product_id", None)
        return str(pid).encode() if pid is not None else None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    pid = data.get("product_id") if isinstance(data, dict) else None
    return str(pid).encode() if isinstance(pid, str | int) else None


@dataclass
class Pacer:
    """Sleeps so that ``rate`` items/s are released (``None``: flat out)."""

    rate: float | None
    started: float = 0.0
    sent: int = 0

    async def tick(self, n: int = 1) -> None:
        if not self.started:
            self.started = time.monotonic()
        self.sent += n
        if self.rate:
            ahead = self.sent / self.rate - (time.monotonic() - self.started)
            if ahead > 0:
                await asyncio.sleep(ahead)


async def start_producer(
    bootstrap: str, settings: Settings | None = None, **kwargs: object
) -> AIOKafkaProducer:
    """A started producer (acks from every replica), connecting as ``settings`` say."""
    if settings is not None:
        kwargs = {**kafka_options(settings), **kwargs}
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        **kwargs,  # type: ignore[arg-type]
    )
    await producer.start()
    return producer


async def publish(
    settings: Settings,
    bootstrap: str,
    items: Iterable[Item] | AsyncIterator[Item],
    rate: float | None = None,
    on_sent: Callable[[str, int], None] | None = None,
    client_id: str | None = None,
) -> int:
    """Send ``(topic, event or raw bytes)`` items; returns how many were acknowledged.
    ``client_id``: the Kafka client id the producer gives (aiokafka's own by default)."""
    extra = {} if client_id is None else {"client_id": client_id}
    producer = await start_producer(bootstrap, settings, **extra)
    pacer, pending, sent = Pacer(rate), [], 0
    try:
        async for topic, value in _aiter(items):
            payload = value if isinstance(value, bytes) else encode(value)
            fut = await producer.send(settings.topic(topic), payload, key=key_of(value))
            pending.append(fut)
            if on_sent:
                on_sent(topic, 1)
            if len(pending) >= 1000:
                sent += len(await asyncio.gather(*pending))
                pending.clear()
            await pacer.tick()
        sent += len(await asyncio.gather(*pending))
    finally:
        await producer.stop()
    return sent


async def _aiter(items: Iterable[Item] | AsyncIterator[Item]) -> AsyncIterator[Item]:
    if hasattr(items, "__aiter__"):
        async for item in items:  # type: ignore[union-attr]
            yield item
    else:
        for item in items:  # type: ignore[union-attr]
            yield item


def json_lines(topic: str, lines: Iterable[bytes]) -> Iterable[Item]:
    """Non-blank lines of a JSON-lines stream as raw items for ``topic``."""
    for line in lines:
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield topic, line
