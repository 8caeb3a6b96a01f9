"""Consumer lag, measured by each worker itself: committed offsets against end offsets.

Every ``PULSE_LAG_INTERVAL`` seconds (5 by default) a worker looks at the input partitions it owns.
For each, the offset its consumer group committed is where the group would resume;
the partition's end offset minus that is the lag in **messages**, and the age of the
oldest message not yet committed (its Kafka timestamp) is the lag in **seconds**.
Each worker reports only its own partitions, so ``sum by (topic)`` over workers is
the group's lag in messages and ``max by (topic)`` its lag in seconds.

End offsets come from the high watermark of one Fetch at the committed offset, which
also returns the oldest waiting message. It is right on Apache Kafka and on the
embedded broker alike (whose ListOffsets answers short: see :mod:`streams.tansu`).

The feedback replica is measured the same way, from the next offset it will apply.
Rebalances are counted as they happen: each new partition assignment is one.
(:func:`register` also exports whether a GPU was asked for: ``pulse_sentiment_gpu_requested``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from models.sentiment.runtime import GPU_PROVIDERS, provider_names
from streams.metrics import Metrics
from streams.security import kafka_options
from streams.sentiment import providers_for
from streams.settings import Settings
from streams.topics import FEEDBACK, INPUTS

if TYPE_CHECKING:
    from streams.app import Pulse

log = logging.getLogger(__name__)

#: Longest wait for the fetch that reads end offsets and oldest timestamps, s.
FETCH_TIMEOUT = 3.0
#: Most bytes one probe fetch brings back, per partition and in all: the probe needs one
#: message per partition. (Apache Kafka still returns a first batch larger than this; the
#: embedded broker ignores the per-partition limit and, without the total one, returned a
#: partition's whole backlog to every probe.)
FETCH_BYTES = 64 * 1024


@dataclass(frozen=True)
class PartitionLag:
    """One partition: where its consumer stands, where it ends, and how old the next message is.

    >>> PartitionLag("clicks", position=40, end=100, oldest_ts=1_000.0).seconds(1_012.5)
    12.5
    >>> PartitionLag("clicks", position=100, end=100, oldest_ts=None).seconds(1_012.5)
    0.0
    """

    topic: str
    position: int  # the next offset to process (committed, or applied by the replica)
    end: int  # the last offset + 1
    oldest_ts: float | None  # Kafka timestamp (s) of the message at ``position``

    @property
    def messages(self) -> int:
        return max(0, self.end - self.position)

    def seconds(self, now: float) -> float:
        if self.messages == 0 or self.oldest_ts is None:
            return 0.0
        return max(0.0, now - self.oldest_ts)


def by_topic(lags: Iterable[PartitionLag], now: float) -> dict[str, tuple[int, float]]:
    """Per topic: messages behind (summed over partitions), seconds behind (the oldest).

    >>> by_topic([PartitionLag("clicks", 0, 5, 90.0), PartitionLag("clicks", 3, 4, 95.0),
    ...           PartitionLag("sales", 7, 7, None)], now=100.0)
    {'clicks': (6, 10.0), 'sales': (0, 0.0)}
    """
    out: dict[str, tuple[int, float]] = {}
    for lag in lags:
        messages, seconds = out.get(lag.topic, (0, 0.0))
        out[lag.topic] = (messages + lag.messages, max(seconds, lag.seconds(now)))
    return out


class OffsetProbe:
    """Reads a group's committed offsets, and end offsets with the oldest message's time."""

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        fetch_timeout: float = FETCH_TIMEOUT,
        options: dict[str, Any] | None = None,
    ):
        self.group_id = group_id
        self.fetch_timeout = fetch_timeout
        options = options or {}
        self.admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="pulse-lag", **options
        )
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id="pulse-lag",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_uncommitted",
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=FETCH_BYTES,
            fetch_max_bytes=FETCH_BYTES,
            **options,
        )

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.consumer.stop()
        with contextlib.suppress(Exception):
            await self.admin.close()

    async def committed(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offsets; the log start where it has committed none yet."""
        if not partitions:
            return {}
        found = await self.admin.list_consumer_group_offsets(self.group_id, partitions=partitions)
        offsets = {tp: found[tp].offset for tp in partitions if tp in found}
        missing = [tp for tp in partitions if offsets.get(tp, -1) < 0]
        if missing:
            offsets.update(await self.consumer.beginning_offsets(missing))
        return offsets

    async def read(
        self, positions: dict[TopicPartition, int]
    ) -> dict[TopicPartition, tuple[int, float | None]]:
        """``tp -> (end offset, timestamp of the message at its position)`` from one fetch.

        Partitions the broker did not answer for within the timeout are left out.
        """
        consumer = self.consumer
        consumer.assign(list(positions))
        try:
            for tp, offset in positions.items():
                consumer.seek(tp, offset)
            return await self._fetch(positions)
        finally:
            consumer.assign([])  # no background fetching between two measurements

    async def _fetch(
        self, positions: dict[TopicPartition, int]
    ) -> dict[TopicPartition, tuple[int, float | None]]:
        consumer, out = self.consumer, {}
        started_ms = time.time() * 1000
        pending = set(positions)
        deadline = time.monotonic() + self.fetch_timeout
        while pending and time.monotonic() < deadline:
            batches = await consumer.getmany(*pending, timeout_ms=100)
            for tp in list(pending):
                records, highwater = batches.get(tp), consumer.highwater(tp)
                if records and highwater is not None:
                    out[tp] = (highwater, records[0].timestamp / 1000)
                elif highwater is not None and highwater <= positions[tp]:
                    polled = consumer.last_poll_timestamp(tp)
                    if polled is not None and polled >= started_ms:
                        out[tp] = (highwater, None)
                if tp in out:
                    pending.discard(tp)
        if pending:
            log.warning("no fetch answer for %s within %.1f s", sorted(pending), self.fetch_timeout)
        return out


class LagMonitor:
    """Measures this worker's lag every ``interval`` seconds and counts its rebalances."""

    def __init__(self, pulse: Pulse, interval: float | None = None):
        self.pulse = pulse
        self.interval = pulse.settings.lag_interval if interval is None else interval
        self.metrics: Metrics = pulse.metrics
        self.inputs = {pulse.settings.topic(name): name for name in INPUTS}
        self.feedback = TopicPartition(pulse.settings.topic(FEEDBACK), 0)

    def owned(self) -> list[TopicPartition]:
        """The input partitions assigned to this worker now."""
        actives = self.pulse.app.assignor.assigned_actives()
        return sorted(
            TopicPartition(tp.topic, tp.partition) for tp in actives if tp.topic in self.inputs
        )

    async def on_assigned(self, sender: Any, assigned: Iterable[Any], **kwargs: Any) -> None:
        self.metrics.rebalances.inc()
        self.metrics.partitions_assigned.set(sum(1 for tp in assigned if tp.topic in self.inputs))

    async def run(self) -> None:
        """Measure until cancelled; a failed measurement is logged, counted and retried."""
        probe = OffsetProbe(
            self.pulse.replica.bootstrap,
            self.pulse.app.conf.id,
            options=kafka_options(self.pulse.settings),
        )
        await probe.start()
        try:
            while True:
                await asyncio.sleep(self.interval)
                if self.pulse.app.rebalancing:
                    continue
                try:
                    await self.measure(probe)
                except Exception as exc:  # the next round tries again
                    log.warning("consumer lag not measured: %r", exc)
                    self.metrics.lag_probes.labels(outcome="failed").inc()
        finally:
            await probe.stop()

    async def measure(self, probe: OffsetProbe) -> list[PartitionLag]:
        """One measurement: set the lag gauges and return what was read."""
        positions = await probe.committed(self.owned())
        positions[self.feedback] = self.pulse.replica.offset
        read = await probe.read(positions)
        lags = [
            PartitionLag(self.inputs.get(tp.topic, FEEDBACK), positions[tp], end, ts)
            for tp, (end, ts) in sorted(read.items())
        ]
        unread = {self.inputs.get(tp.topic, FEEDBACK) for tp in positions if tp not in read}
        self.publish(lags, time.time(), unread)
        return lags

    def publish(self, lags: list[PartitionLag], now: float, unread: set[str]) -> None:
        """Set the gauges of every topic whose partitions were all read."""
        m, per_topic = self.metrics, by_topic(lags, now)
        for name in (n for n in INPUTS if n not in unread):
            messages, seconds = per_topic.get(name, (0, 0.0))
            m.lag_messages.labels(topic=name).set(messages)
            m.lag_seconds.labels(topic=name).set(seconds)
        if FEEDBACK not in unread:
            m.feedback_lag_messages.set(per_topic[FEEDBACK][0])
            m.feedback_lag_seconds.set(per_topic[FEEDBACK][1])
        m.lag_probes.labels(outcome="partial" if unread else "ok").inc()


def gpu_requested(settings: Settings) -> bool:
    """True when the sentiment settings ask for a GPU (``auto`` does where CUDA is offered).

    >>> gpu_requested(Settings(sentiment_providers="cuda,cpu")), gpu_requested(Settings(sentiment_providers="cpu"))
    (True, False)
    """
    wanted = provider_names(providers_for(settings.sentiment_providers))
    return settings.sentiment_require_gpu or bool(GPU_PROVIDERS & set(wanted))


def register(pulse: Pulse, interval: float | None = None) -> LagMonitor:
    """Measure lag in a background task of ``pulse.app`` and count its rebalances.

    Also exports whether a GPU was asked for, so that an alert can tell when the model
    silently runs on the CPU instead (the provider in use is exported with the model).
    """
    pulse.metrics.sentiment_gpu_requested.set(1 if gpu_requested(pulse.settings) else 0)
    monitor = LagMonitor(pulse, interval)
    pulse.app.task(monitor.run)
    pulse.app.on_partitions_assigned.connect(monitor.on_assigned)  # type: ignore[arg-type]
    return monitor
