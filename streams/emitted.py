"""Decisions already published, read back from the decisions topic, so none is made twice.

A batch's decisions are published before its dedup and cooldown keys are written to
the ``decisions`` table: a worker killed in between must repeat a decision rather than
lose it. Whoever then applies those events again (the restarted worker, or the one
that took its partitions) would make the same decisions again, with the same
``decision_id``s. To prevent that, every worker follows the decisions topic (all its
partitions, outside any consumer group, from a little before its end at start) and
keeps the keys of the decisions it read; the rules read them beside the table
(:meth:`EmittedDecisions.read`). After a start or a rebalance the input agent applies
nothing until this worker has read every decision published before it
(:meth:`EmittedDecisions.caught_up`), so a decision published by a worker that died
is known before its events are applied again.

The keys are those of :func:`rules.engine.dedup_key` and
:func:`rules.engine.subject_key` (cooldowns), rebuilt from the decision record's own fields, so
they need not know the rules. Memory is bounded by :data:`KEYS`; the table keeps the
keys of every decision whose batch completed, for as long as the rules need them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from rules.engine import dedup_key, subject_key
from streams.security import kafka_options
from streams.settings import Settings
from streams.topics import DECISIONS

log = logging.getLogger(__name__)

#: Records read back per partition at start (the decisions of the batches a crash cut
#: are at the very end; a batch makes at most a few per event).
LOOKBACK = 2_000
#: Keys kept (oldest forgotten first).
KEYS = 100_000
#: How long a caught-up wait lasts before it gives up (logged; the agent goes on).
CATCH_UP_TIMEOUT = 30.0


def keys_of(record: dict[str, Any]) -> list[tuple[str, float]]:
    """The dedup and cooldown keys a published decision set, with the trigger's time.

    >>> keys_of({"decision_id": "ab", "rule_id": "r", "subject_type": "user",
    ...          "subject_id": "u1", "trigger_ts": 5})
    [('d:ab', 5.0), ('c:r|user|u1', 5.0)]
    """
    ts = float(record["trigger_ts"])
    cooldown = subject_key(record["rule_id"], record["subject_type"], str(record["subject_id"]))
    return [(dedup_key(str(record["decision_id"])), ts), (cooldown, ts)]


class EmittedDecisions:
    """The keys of the decisions this worker has read back from the decisions topic."""

    def __init__(self, settings: Settings, bootstrap: str, limit: int = KEYS):
        self.settings = settings
        self.bootstrap = bootstrap
        self.limit = limit
        self.topic = settings.topic(DECISIONS)
        self._keys: OrderedDict[str, float] = OrderedDict()
        self._consumer: AIOKafkaConsumer | None = None
        self._started = asyncio.Event()
        #: Decision records read, and unreadable ones skipped.
        self.read_count = 0
        self.unreadable = 0

    def get(self, key: str) -> float | None:
        """The trigger time stored under ``key`` by a published decision, or None."""
        return self._keys.get(key)

    def read(self, table_read: Callable[[str], float | None]) -> Callable[[str], float | None]:
        """A key reader for the rules: the table's value, else a published decision's."""
        keys = self._keys

        def read(key: str) -> float | None:
            stored = table_read(key)
            return stored if stored is not None else keys.get(key)

        return read

    def learn(self, value: bytes | None) -> None:
        """Remember the keys of one published decision record."""
        try:
            pairs = keys_of(orjson.loads(value or b""))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.unreadable += 1
            return
        keys = self._keys
        for key, ts in pairs:
            old = keys.pop(key, None)
            keys[key] = ts if old is None else max(old, ts)
        while len(keys) > self.limit:
            keys.popitem(last=False)
        self.read_count += 1

    async def run(self) -> None:
        """Follow the decisions topic until cancelled."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=int(self.settings.fetch_max_wait * 1000),
            **kafka_options(self.settings),
        )
        await consumer.start()
        try:
            tps = [TopicPartition(self.topic, p) for p in range(self.settings.partitions)]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(0, ends.get(tp, 0) - LOOKBACK))
            self._consumer = consumer
            self._started.set()
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=5_000)
                for records in batches.values():
                    for record in records:
                        self.learn(record.value)
        finally:
            self._consumer = None
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def caught_up(self, timeout: float = CATCH_UP_TIMEOUT) -> bool:
        """Return once every decision published before the call has been read (False, and
        a warning, if that took longer than ``timeout``)."""
        started = time.monotonic()
        try:
            await asyncio.wait_for(self._caught_up(), timeout)
        except TimeoutError:
            log.warning(
                "decisions published before this rebalance not all read back in %.0f s: "
                "a decision a dead worker made may be made again",
                timeout,
            )
            return False
        log.info("decisions read back in %.2f s", time.monotonic() - started)
        return True

    async def _caught_up(self) -> None:
        await self._started.wait()
        consumer = self._consumer
        assert consumer is not None
        tps = sorted(consumer.assignment())
        # ListOffsets may point into the last batch (the embedded broker answers with its
        # base offset + 1): past it, the last fetch's high watermark says where it ends
        listed = await consumer.end_offsets(tps)
        while True:
            behind = False
            for tp in tps:
                position = await consumer.position(tp)
                high = consumer.highwater(tp)
                if position < listed.get(tp, 0) or (high is not None and position < high):
                    behind = True
                    break
            if not behind:
                return
            await asyncio.sleep(0.02)
