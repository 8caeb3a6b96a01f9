"""Pulse's Faust consumer: faust-streaming's aiokafka consumer and flow control with five fixes.

1. **No message skipped after a rebalance.** Faust's fetch loop hands each fetched
   message to the streams, then records its offset as the partition's *read offset*;
   a later fetched message below that offset is taken as already read and dropped. A
   rebalance resets the read offsets to the committed ones (the new owner reads on
   from there). When a hand-off that a rebalance interrupted finished only after that
   reset, the stock loop still recorded the old message's offset, so the re-fetched
   messages between the committed offset and it were dropped, by every worker: lost
   (issue 8, three workers and two kills: runs of a few events lost on one partition
   about one run in three). Here an offset is recorded only if the message was
   fetched in the consumer group's current generation; the streams drop the stale
   message itself (:func:`streams.agents.current`), and it is fetched again.
2. **Each message carries the generation it was fetched in.** Faust stamps a message
   with the generation current when the main thread turns it into a message, not when
   the consumer thread fetched it. A fetch that finished just before a rebalance and
   reached the main thread just after it was stamped with the new generation, so its
   messages (past the committed offset) were applied before the re-fetch from the
   committed offset; an earlier event of a product whose later event was applied that
   way then looked redelivered, and was skipped: lost (issue 8, three workers and two
   kills: three scattered events of one partition lost in one CI run in about ten).
   Here the consumer thread reads the generation as it collects the records, before its
   coordinator can move on (aiokafka installs a new assignment first and only then tells
   Faust the new generation, so records collected under the old assignment always carry
   the old generation); the streams drop them as stale and the seek that ends the
   rebalance fetches them again.
3. **No ack for a message dropped at a rebalance, no gap invented by a seek.** When a rebalance stops the flow, Faust's
   streams drop the messages still queued (and any fetched in an earlier generation) and
   *ack* them, "so that the lag does not grow"; the commit made when partitions are revoked
   then covers them, and nobody applies them: lost (issue 8, the same test: a run of 8
   events of one partition queued behind the batch in hand at the rebalance, committed past
   and never seen again, found with ``PULSE_TRACE_DELIVERY=1``). Here such an ack lets the
   message go (the rebalance waits for every message in hand to be acked) but keeps it out
   of the commit: a message of an earlier generation, or one acked while the flow is
   stopped that the agent did not apply (:meth:`PulseConsumer.mark_applied`). It is fetched
   again from the committed offset. A batch applied across a rebalance may be applied
   again by the next owner, which the product offsets recognise as a redelivery. Faust also counts offsets between the read offset and
   the next message as a gap (no message there: acked for the commit); a seek moves the read
   offset back while messages fetched before it are still being handed on, and the next one
   then made a gap of messages handed on but not yet applied. Here a gap is counted only
   after the message handed on before, in the same generation.
4. **Queued messages kept when the flow resumes.** Faust's flow control clears every
   stream queue each time it is resumed. Table recovery resumes it when it starts reading
   the changelogs, resumes the input partitions and seeks them, then resumes the flow
   again when it completes: the second resume wiped the input messages fetched and queued
   in between, never applied and never acked, while the fetch loop had already read past
   them (issue 8: the loss that remained, traced as messages handed on right before
   "Worker ready" that the stream never saw). :class:`PulseFlowControl` clears the queues
   only when the flow was stopped.
5. **Prompt fetches.** Faust fixes ``fetch_max_wait_ms`` at 1,500 ms. Apache Kafka
   answers a waiting fetch as soon as data arrives, but the embedded broker answers
   it only when the wait expires, which put up to 1.5 s between an event and its
   processing on an idle worker. ``PULSE_FETCH_MAX_WAIT`` sets it (default 0.05 s).

All five apply to Apache Kafka and the embedded broker alike (:mod:`streams.tansu` builds
on this consumer). They override private parts of faust-streaming 0.15, pinned in
``pyproject.toml``; ``tests/streams/test_consumer.py`` fails if those parts change.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Iterable
from typing import Any, cast

import aiokafka
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.tuples import ack_lock
from mode import ServiceT
from mode.utils.futures import notify
from mode.utils.queues import FlowControlEvent

log = logging.getLogger(__name__)
TRACE = os.environ.get("PULSE_TRACE_DELIVERY") == "1"

#: Messages handed on between two turns given to the event loop.
YIELD_EVERY = 100


class PulseFlowControl(FlowControlEvent):
    """Faust's flow control, whose resume clears the stream queues only when the flow was
    stopped (fix 4 above)."""

    def resume(self) -> None:
        if self.is_active():  # already flowing: what is queued is current
            return
        super().resume()


class Fetched(dict[Any, Any]):
    """One fetch's records by partition, with the group generation they were collected in
    and, per partition, how many :meth:`PulseConsumer.seek_back` had taken effect."""

    __slots__ = ("generation", "seeks")

    def __init__(self, records: Any, generation: int, seeks: dict[Any, int]):
        super().__init__(records)
        self.generation = generation
        self.seeks = seeks


class PulseConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """The thread that owns the aiokafka consumer, with Pulse's fetch wait, stamping each
    fetch with its generation (fix 2 above)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Partition -> seeks back done, in this thread (:meth:`seek_back`).
        self.seek_counts: dict[Any, int] = {}

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Fetched:
        records = await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )
        # no await between the collection and this read: the coordinator (same thread)
        # cannot have installed another assignment in between, nor a seek_back landed
        return Fetched(records, self.app.consumer_generation_id, dict(self.seek_counts))

    async def seek_back(self, tp: Any, offset: int) -> None:
        """Seek ``tp`` to ``offset`` in the consumer's own thread, counting it, so that each
        fetch says whether it was collected before or after."""
        await self.call_thread(self._seek_back, tp, offset)

    async def _seek_back(self, tp: Any, offset: int) -> None:
        self._ensure_consumer().seek(tp, offset)
        self.seek_counts[tp] = self.seek_counts.get(tp, 0) + 1

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        wait = getattr(self.app, "fetch_max_wait", None)
        if wait is not None:  # read by the fetcher aiokafka builds in start()
            consumer._fetch_max_wait_ms = int(wait * 1000)  # noqa: SLF001
        return consumer


class PulseConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer whose fetch loop never skips a message after a rebalance."""

    #: Fetched messages dropped because their partition's read offset was past them.
    skipped = 0

    #: The generation the records being turned into messages were fetched in.
    _fetched_generation: int | None = None

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return PulseConsumerThread(self, loop=self.loop, beacon=self.beacon)

    #: Acks kept out of the commit (fix 3 above).
    refused_acks = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Messages the agent applied (their ack counts even while the flow is stopped).
        self._applied: weakref.WeakSet[Any] = weakref.WeakSet()
        #: Partition -> seeks back done (:meth:`seek_back`).
        self._seeks_done: dict[Any, int] = {}

    # -- PULSE_TRACE_DELIVERY: what takes a partition out of the fetches and back ------------

    def on_buffer_full(self, tp: Any) -> None:
        if TRACE:
            log.info("trace buffer full %s (in recovery %s)", tp, self.app.in_recovery)
        super().on_buffer_full(tp)

    def on_buffer_drop(self, tp: Any) -> None:
        if TRACE:
            log.info("trace buffer drop %s (buffered %s)", tp, tp in self._buffered_partitions)
        super().on_buffer_drop(tp)

    def pause_partitions(self, tps: Iterable[Any]) -> None:
        tps = list(tps)
        if TRACE:
            log.info("trace pause %s", sorted(map(str, tps)))
        super().pause_partitions(tps)

    def resume_partitions(self, tps: Iterable[Any]) -> None:
        tps = list(tps)
        if TRACE:
            log.info("trace resume %s", sorted(map(str, tps)))
        super().resume_partitions(tps)

    def _trace_fetch_set(self) -> None:
        """Log the assigned partitions left out of the fetches, at most once a second."""
        now = asyncio.get_running_loop().time()
        if now < self._trace_next:
            return
        self._trace_next = now + 1.0
        active = self._active_partitions or set()
        log.info(
            "trace fetch set: left out %s, paused %s, buffered %s, flow %s",
            sorted(map(str, set(self.assignment()) - active)),
            sorted(map(str, self._paused_partitions)),
            sorted(map(str, self._buffered_partitions)),
            self.flow_active,
        )

    _trace_next = 0.0

    def mark_applied(self, messages: Iterable[Any]) -> None:
        """Say these messages were applied: acked next, they count for the commit even if
        a rebalance has stopped the flow meanwhile (Faust commits them when partitions
        are revoked)."""
        self._applied.update(messages)

    def ack(self, message: Any) -> bool:
        """Faust's ack, except that a message fetched before the last rebalance, or dropped
        while the flow is stopped without having been applied, is let go (the rebalance
        does not wait for it) but kept out of the commit: it is fetched again."""
        app = self.app
        stale = message.generation_id != app.consumer_generation_id
        if stale or (not app.flow_control.is_active() and message not in self._applied):
            self.refused_acks += 1
            if TRACE:
                log.info("trace ack refused %s@%d", message.tp, message.offset)
            self.let_go([message])
            return False
        return bool(super().ack(message))

    async def seek(self, partition: Any, offset: int) -> None:
        if TRACE:
            log.info(
                "trace seek %s to %s (gen %s)", partition, offset, self.app.consumer_generation_id
            )
        await super().seek(partition, offset)

    #: Partition -> seeks back taken effect when the records being converted were fetched.
    _fetched_seeks: dict[Any, int] | None = None

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        records = await super()._getmany(active_partitions, timeout)
        # read by _to_message for every record of this fetch (one fetch at a time)
        self._fetched_generation = getattr(records, "generation", None)
        self._fetched_seeks = getattr(records, "seeks", None)
        return records

    def _to_message(self, tp: Any, record: Any) -> Any:
        message: Any = super()._to_message(tp, record)
        if self._fetched_generation is not None:
            message.generation_id = self._fetched_generation
        seeks = self._fetched_seeks
        message.pulse_seeks = 0 if seeks is None else seeks.get(tp, 0)
        return message

    async def seek_back(self, tp: Any, offset: int) -> None:
        """Fetch ``tp`` again from ``offset`` (:mod:`streams.sequence` found a hole before it);
        messages fetched after it carry one more in ``pulse_seeks``."""
        await cast(PulseConsumerThread, self._thread).seek_back(tp, offset)
        self._read_offset[tp] = offset
        # the fetch loop hands on nothing fetched before it (it would move the read offset on)
        self._seeks_done[tp] = self._seeks_done.get(tp, 0) + 1

    def let_go(self, messages: Iterable[Any]) -> None:
        """Release messages that will be fetched again: the rebalance does not wait for
        them, and the commit does not count them."""
        with ack_lock:
            for message in messages:
                message.acked = True
                self._unacked_messages.discard(message)
        notify(self._waiting_for_ack)

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover - thread loop
        """Fetch and hand on messages until stopped (Faust's loop, with fix 1 above)."""
        service, fetching = cast(Any, self), cast(Any, fetcher)
        app, read = self.app, self._read_offset
        acks_enabled_for = app.topics.acks_enabled_for
        handed: dict[Any, tuple[int, int]] = {}  # tp -> (generation, offset) last handed on
        seeks_done = self._seeks_done
        since_yield = 0
        try:
            while not (service._stopped.is_set() or fetching._stopped.is_set()):
                self.diag.set_flag(CONSUMER_FETCHING)
                if TRACE:
                    self._trace_fetch_set()
                fetched = self.getmany(timeout=1.0)
                await self.sleep(0)  # getmany may answer at once, over and over
                if self.should_stop:
                    continue
                async for tp, message in fetched:
                    since_yield += 1
                    if since_yield > YIELD_EVERY:
                        await asyncio.sleep(0)
                        since_yield = 0
                    if getattr(message, "pulse_seeks", 0) < seeks_done.get(tp, 0):
                        continue  # fetched before a seek back: it comes again, in order
                    offset, last = message.offset, read[tp]
                    if last is not None and offset < last:
                        self.skipped += 1
                        (log.info if TRACE else log.debug)(
                            "trace %s@%d skipped: read up to %d", tp, offset, last
                        )
                        continue
                    # offsets with no message (control records): after the message handed on
                    # before, in this generation (not after the read offset, which a seek moves
                    # back while messages fetched before it are still being handed on)
                    before = handed.get(tp)
                    if (
                        before is not None
                        and before[0] == message.generation_id
                        and offset - before[1] > 1
                        and acks_enabled_for(message.topic)
                    ):
                        if TRACE:
                            log.info("trace %s gap %d-%d", tp, before[1] + 1, offset)
                        await self._add_gap(tp, before[1] + 1, offset)
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    await self.wait_first(self.callback(message), self.suspend_flow.wait())
                    if TRACE:
                        log.info(
                            "trace delivered %s@%d gen %s/%s flow %s suspended %s",
                            tp,
                            offset,
                            message.generation_id,
                            app.consumer_generation_id,
                            app.flow_control.is_active(),
                            self.suspend_flow.is_set(),
                        )
                    # read: handed on in this generation (not cut short by a rebalance)
                    if (
                        message.generation_id == app.consumer_generation_id
                        and not self.suspend_flow.is_set()
                    ):
                        read[tp] = offset
                        handed[tp] = (message.generation_id, offset)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                log.info("broker stopped the consumer, shutting down")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        except Exception:
            log.exception("the fetch loop failed")
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class PulseTransport(faust_aiokafka.Transport):
    """The aiokafka transport with :class:`PulseConsumer`."""

    Consumer = cast(Any, PulseConsumer)
