"""Pulse's Faust consumer: faust-streaming's aiokafka consumer with two fixes.

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
2. **Prompt fetches.** Faust fixes ``fetch_max_wait_ms`` at 1,500 ms. Apache Kafka
   answers a waiting fetch as soon as data arrives, but the embedded broker answers
   it only when the wait expires, which put up to 1.5 s between an event and its
   processing on an idle worker. ``PULSE_FETCH_MAX_WAIT`` sets it (default 0.05 s).

Both apply to Apache Kafka and the embedded broker alike (:mod:`streams.tansu` builds
on this consumer). They override private parts of faust-streaming 0.15, pinned in
``pyproject.toml``; ``tests/streams/test_consumer.py`` fails if those parts change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import aiokafka
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode import ServiceT

log = logging.getLogger(__name__)

#: Messages handed on between two turns given to the event loop.
YIELD_EVERY = 100


class PulseConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """The thread that owns the aiokafka consumer, with Pulse's fetch wait."""

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

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return PulseConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover - thread loop
        """Fetch and hand on messages until stopped (Faust's loop, with fix 1 above)."""
        service, fetching = cast(Any, self), cast(Any, fetcher)
        app, read = self.app, self._read_offset
        acks_enabled_for = app.topics.acks_enabled_for
        since_yield = 0
        try:
            while not (service._stopped.is_set() or fetching._stopped.is_set()):
                self.diag.set_flag(CONSUMER_FETCHING)
                fetched = self.getmany(timeout=1.0)
                await self.sleep(0)  # getmany may answer at once, over and over
                if self.should_stop:
                    continue
                async for tp, message in fetched:
                    since_yield += 1
                    if since_yield > YIELD_EVERY:
                        await asyncio.sleep(0)
                        since_yield = 0
                    offset, last = message.offset, read[tp]
                    if last is not None and offset < last:
                        self.skipped += 1
                        log.debug("%s@%d skipped: read up to %d", tp, offset, last)
                        continue
                    if last and offset - last > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, last + 1, offset)  # offsets with no message
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    await self.wait_first(self.callback(message), self.suspend_flow.wait())
                    if message.generation_id == app.consumer_generation_id:
                        read[tp] = offset
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
