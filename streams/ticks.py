"""``tick`` rules: every ``PULSE_TICK_INTERVAL`` seconds, each active product's windows re-read.

Rules on windows (a sentiment drop, low stock against sales velocity, a trending
product) should fire when the windows move, not only when the next event of that
product arrives. A tick evaluates the ``tick`` rules over every product this worker
holds that saw an event in the last day, at the tick's event time: the newest event
time the worker has applied, advanced by the wall-clock time since it was first seen
(so a replay of old data ticks in its own time, and a quiet live shop in real time).

A tick runs in the background, in two passes. The first evaluates every product, in
slices of :data:`CHUNK` products with pauses between them so that the tick takes no more
than :data:`SHARE` of the event loop while the agent's batches go on; it only finds the
products whose rules would decide. The second, for those few, holds the agent's batch lock
from evaluation to its table writes, so an event and a tick never decide the same window
twice. (A tick that held the lock for its whole pass stopped the agent for as long as it
took, ≈20 µs a product: 0.6 s for 30,000 active products, every minute.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from rules import DecisionRecord, EvalStats, RuleSet
from streams.facts import tick_facts
from streams.processor import BatchStore, stored_last_ts, stored_partition, stored_state
from streams.state import ProductState
from streams.tables import flush_writes, put_at

if TYPE_CHECKING:
    from streams.app import Pulse

log = logging.getLogger(__name__)

#: Products evaluated in one slice of a tick's first pass.
CHUNK = 500
#: The share of the event loop a tick's first pass takes: after a slice of ``d`` seconds it
#: pauses ``d * (1 / SHARE - 1)``.
SHARE = 0.2
#: The state of a product's table value (``streams.processor``'s live one where it can).
StateOf = Callable[[str, Any], ProductState]
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

    def __init__(
        self, pulse: Pulse, lock: asyncio.Lock, state_of: StateOf = lambda pid, v: stored_state(v)
    ):
        self.pulse = pulse
        self.lock = lock
        self.state_of = state_of
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
        data = pulse.tables.products.data
        keys = list(data.keys())
        newest = max((stored_last_ts(v) for v in list(data.values())), default=None)
        if newest is None:
            return 0
        now = self.clock.now(float(newest))
        versions = {
            "sentiment": pulse.sentiment.version,
            "recommender": pulse.replica.recommender_version,
        }
        stats, candidates = EvalStats(), []
        for first in range(0, len(keys), CHUNK):  # first pass: who would decide
            slice_started = time.perf_counter()
            for key in keys[first : first + CHUNK]:
                found = self._facts(key, now, versions)
                if found is None:
                    continue
                probe = BatchStore(pulse.read_decision)  # dedup and cooldown read, not kept
                probe.partition = found[1]
                if rules.evaluate("tick", found[0], probe, time.time(), stats):
                    candidates.append(key)
            await asyncio.sleep((time.perf_counter() - slice_started) * (1 / SHARE - 1))
        decisions = await self._decide(rules, candidates, now, versions) if candidates else []
        m = pulse.metrics
        m.rules_evaluations.inc(stats.evaluated)
        m.rules_eval_seconds.observe(time.perf_counter() - started)
        for d in decisions:
            m.decisions.labels(rule=d.rule_id, action=d.action).inc()
        if decisions:
            log.info("tick at %.0f: %d decisions over %d products", now, len(decisions), len(keys))
        return len(decisions)

    def _facts(
        self, key: bytes, now: float, versions: dict[str, Any]
    ) -> tuple[dict[str, Any], int] | None:
        """The tick facts of product ``key`` as it is now, with its partition (None for a
        product gone, idle for a day, or written before partitions were stored)."""
        stored = self.pulse.tables.products.data.get(key)
        if stored is None:
            return None
        partition = stored_partition(stored)
        if partition is None or stored_last_ts(stored) < now - ACTIVE_SPAN:
            return None
        product_id = key.decode()
        state = self.state_of(product_id, stored)
        return tick_facts(product_id, state, now, versions=versions), partition

    async def _decide(
        self, rules: RuleSet, candidates: list[bytes], now: float, versions: dict[str, Any]
    ) -> list[DecisionRecord]:
        """Second pass, under the agent's lock: decide for ``candidates`` as they are now,
        with the rules of the first pass (a reload meanwhile waits for the next tick),
        publish the decisions, then write their dedup and cooldown keys."""
        pulse = self.pulse
        decisions: list[DecisionRecord] = []
        async with self.lock:
            store = BatchStore(pulse.read_decision)
            for key in candidates:
                found = self._facts(key, now, versions)
                if found is not None:
                    store.partition = found[1]
                    decisions += rules.evaluate("tick", found[0], store, time.time())
            if not decisions:
                return decisions
            pending = [
                await pulse.topics.decisions.send(
                    key=d.subject_id.encode(), value=orjson.dumps(d.to_dict())
                )
                for d in decisions
            ]
            await asyncio.gather(*pending)
            for name, (partition, ts) in store.pending.items():
                put_at(pulse.tables.decisions, partition, name, (partition, ts))
            await flush_writes(pulse.app)
        return decisions
