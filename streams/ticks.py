"""``tick`` rules: every ``PULSE_TICK_INTERVAL`` seconds, each active product's windows re-read.

Rules on windows (a sentiment drop, low stock against sales velocity, a trending
product) should fire when the windows move, not only when the next event of that
product arrives. A tick evaluates the ``tick`` rules over every product this worker
holds that saw an event in the last day, at the tick's event time: the newest event
time the worker has applied, advanced by the wall-clock time since it was first seen
(so a replay of old data ticks in its own time, and a quiet live shop in real time).

A tick holds the agent's batch lock from evaluation to its table writes, so an event
and a tick never decide the same window twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from rules import EvalStats
from streams.facts import tick_facts
from streams.processor import BatchStore, stored_last_ts, stored_partition, stored_state
from streams.tables import flush_writes, put_at

if TYPE_CHECKING:
    from streams.app import Pulse

log = logging.getLogger(__name__)

#: Products evaluated between two yields to the event loop.
CHUNK = 500
#: Products idle for longer than this (event time) are not ticked.
ACTIVE_SPAN = 86_400.0


class EventClock:
    """The tick's event time: the newest applied event time, moved on by the wall clock.

    >>> clock = EventClock(wall=iter([100.0, 130.0, 140.0]).__next__)
    >>> clock.now(1_000.0), clock.now(1_000.0), clock.now(2_000.0)
    (1000.0, 1030.0, 2000.0)
    """

    def __init__(self, wall: Any = time.time):
        self.wall = wall
        self.mark: tuple[float, float] | None = None

    def now(self, newest_event: float) -> float:
        wall = self.wall()
        if self.mark is None or newest_event > self.mark[0]:
            self.mark = (newest_event, wall)
        event_ts, seen_at = self.mark
        return event_ts + max(0.0, wall - seen_at)


class Ticker:
    """Runs the ``tick`` rules of one worker (a Faust timer task)."""

    def __init__(self, pulse: Pulse, lock: asyncio.Lock):
        self.pulse = pulse
        self.lock = lock
        self.clock = EventClock()

    async def run(self) -> None:
        interval = self.pulse.settings.tick_interval
        if not interval:
            return
        while True:
            await asyncio.sleep(interval)
            if not self.pulse.ready:
                continue
            try:
                await self.tick()
            except Exception:  # a tick must never stop the next one
                log.exception("tick failed")

    async def tick(self) -> int:
        """Evaluate the tick rules once; the number of decisions published."""
        pulse = self.pulse
        rules = pulse.rules.current
        if not rules.rules_for("tick"):
            return 0
        started = time.perf_counter()
        async with self.lock:
            products = list(pulse.tables.products.data.items())
            newest = max((stored_last_ts(v) for _, v in products), default=None)
            if newest is None:
                return 0
            now = self.clock.now(float(newest))
            store = BatchStore(pulse.read_decision)
            stats, decisions = EvalStats(), []
            versions = {
                "sentiment": pulse.sentiment.version,
                "recommender": pulse.replica.recommender_version,
            }
            for i, (key, stored) in enumerate(products):
                partition = stored_partition(stored)
                if partition is None or stored_last_ts(stored) < now - ACTIVE_SPAN:
                    continue  # written before partitions were stored, or idle for a day
                facts = tick_facts(key.decode(), stored_state(stored), now, versions=versions)
                store.partition = partition
                decisions += rules.evaluate("tick", facts, store, time.time(), stats)
                if i % CHUNK == CHUNK - 1:
                    await asyncio.sleep(0)
            pending = [
                await pulse.topics.decisions.send(
                    key=d.subject_id.encode(), value=orjson.dumps(d.to_dict())
                )
                for d in decisions
            ]
            if pending:
                await asyncio.gather(*pending)
            for key, (partition, ts) in store.pending.items():
                put_at(pulse.tables.decisions, partition, key, (partition, ts))
            await flush_writes(pulse.app)
        m = pulse.metrics
        m.rules_evaluations.inc(stats.evaluated)
        m.rules_eval_seconds.observe(time.perf_counter() - started)
        for d in decisions:
            m.decisions.labels(rule=d.rule_id, action=d.action).inc()
        if decisions:
            log.info(
                "tick at %.0f: %d decisions over %d products", now, len(decisions), len(products)
            )
        return len(decisions)
