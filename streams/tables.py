"""Pulse's Faust tables and how an agent writes to them from a batch.

* ``products``: product id -> ``{"s": ProductState.to_dict(), "o": offsets, "p": partition}``,
  co-partitioned with the input topics (all keyed by product id); in memory, what this
  worker wrote is held as that JSON (:data:`streams.processor.Written`).
* ``seen``: event id -> ``[partition, ts]``, the deduplication memory (``ts``: the newest
  event time applied when the id was seen).
* ``decisions``: the rules engine's dedup and cooldown keys -> event time, so a
  decision is not made twice for one trigger, across restarts too.

Keys are raw UTF-8 bytes, as on the input topics, so that Faust's request
routing (``table_route``) hashes a product id to the partition that holds it.

The input agent's batches write with :func:`changelog_rows` (and the pruners delete with
:func:`changelog_deletes`), on the partition of the event that made each row: each row goes
into the table's memory and straight to the producer (Faust's ``table[key] = value`` queues one
message at a time through its producer buffer, a few coroutine switches each; at 1,000
writes a batch that was most of a worker's time). The changelog records are the ones
Faust writes (raw key, JSON value), so Faust's own recovery reads them back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from streams.settings import Settings


@dataclass(frozen=True)
class Tables:
    products: faust.Table
    seen: faust.Table
    decisions: faust.Table


def make_tables(app: faust.App, settings: Settings) -> Tables:
    def table(name: str) -> faust.Table:
        return app.Table(  # type: ignore[return-value]
            name,
            default=None,
            partitions=settings.partitions,
            key_type=bytes,  # values: JSON, Faust's default
        )

    return Tables(products=table("products"), seen=table("seen"), decisions=table("decisions"))


def get(table: faust.Table, key: str) -> Any:
    """``table[key]``, or None when absent."""
    return _dict(table).get(key.encode())


def _dict(table: faust.Table) -> Any:
    """The table's keys and values: the memory store's own dict (its ``Mapping.get`` costs
    a Python call and an exception per miss), or the store itself."""
    store = table.data
    inner = getattr(store, "data", None)
    return inner if isinstance(inner, dict) else store


def put_at(table: faust.Table, partition: int, key: str, value: Any) -> None:
    """``table[key] = value`` with changelog ``partition``, outside any event (timers)."""
    raw = key.encode()
    table.data[raw] = value
    table.send_changelog(partition, raw, value)


def stored_ts(value: Any) -> float | None:
    """The time of a ``[partition, ts]`` value (seen ids, decision keys), or None."""
    return None if value is None else float(value[1])


#: ``(topic, key, value, partition, headers)`` of a message for :func:`send_all`.
Message = tuple[str, bytes | None, bytes | None, int | None, dict[str, bytes] | None]


async def send_all(app: faust.App, messages: Iterable[Message]) -> None:
    """Hand every message to the producer, then wait until the broker has them all.

    Messages are gathered into one record batch per topic-partition (aiokafka's
    ``create_batch``/``send_batch``) rather than sent one by one: a plain ``send``
    makes a future per message, which with three or four outputs per event was about
    a tenth of a worker's time. A partition not given is the one the producer's own
    partitioner picks for the key, as ``send`` would. A full batch is sent and another
    begun; a full queue for a partition makes ``send_batch`` wait, which is the
    backpressure a fast batch needs. Order within a partition is kept.
    """
    kafka = app.producer._ensure_producer()  # type: ignore[attr-defined]  # noqa: SLF001
    batches: dict[tuple[str, int], Any] = {}
    sent: list[asyncio.Future[Any]] = []
    known: set[str] = set()
    for topic, key, value, partition, headers in messages:
        if partition is None:
            if topic not in known:
                await kafka.client._wait_on_metadata(topic)  # noqa: SLF001 - as send does
                known.add(topic)
            partition = kafka._partition(topic, None, key, None, key, None)  # noqa: SLF001
        tp = (topic, partition)
        batch = batches.get(tp)
        if batch is None:
            batch = batches[tp] = kafka.create_batch()
        listed = list(headers.items()) if headers else []
        if batch.append(key=key, value=value, timestamp=None, headers=listed) is None:
            sent.append(await kafka.send_batch(batch, topic, partition=partition))
            batch = batches[tp] = kafka.create_batch()
            # an empty batch takes any record (one over the request limit fails on send)
            if batch.append(key=key, value=value, timestamp=None, headers=listed) is None:
                raise RuntimeError(f"an empty record batch refused a record for {topic}")
    for (topic, partition), batch in batches.items():
        sent.append(await kafka.send_batch(batch, topic, partition=partition))
    if sent:
        await asyncio.gather(*sent)


def changelog_rows(
    table: faust.Table,
    rows: Iterable[tuple[str, int, Any]],
    encode: Callable[[Any], bytes] = orjson.dumps,
) -> Iterator[Message]:
    """Set ``table[key] = value`` in memory for each ``(key, partition, value)``, yielding
    the changelog message of each (raw key, ``encode(value)``: JSON, on the given partition)."""
    data, topic = _dict(table), table.changelog_topic.get_topic_name()
    for key, partition, value in rows:
        raw = key.encode()
        data[raw] = value
        yield topic, raw, encode(value), partition, None


def changelog_deletes(table: faust.Table, rows: Iterable[tuple[bytes, int]]) -> Iterator[Message]:
    """Delete each ``(raw key, partition)`` from ``table``'s memory, yielding its changelog
    tombstone (no value, as Faust writes one)."""
    data, topic = _dict(table), table.changelog_topic.get_topic_name()
    for raw, partition in rows:
        data.pop(raw, None)
        yield topic, raw, None, partition, None


async def flush_writes(app: faust.App) -> None:
    """Wait until every queued table write (changelog record) is on the broker.

    Faust queues changelog writes in its producer buffer; a worker killed before
    they are sent would apply (and decide) those events again after a restart.
    """
    producer = app.producer
    while producer.buffer.size:
        await producer.buffer.flush()
    await producer.flush()
