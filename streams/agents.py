"""The input agent: decode, validate, deduplicate, score, update state, decide, feed the log.

It is thin on purpose: :class:`~streams.processor.BatchProcessor` holds the logic. Per
batch it drops events fetched before the last rebalance (they are fetched again), then
(1) sends dead letters, scored reviews, decisions and feedback records and waits until
the broker has them, then (2) writes product state and waits, then (3) writes seen ids
and the decisions' dedup keys and waits. That order makes a crash in between repeat
work rather than lose it; the repeat changes nothing: replicas drop a feedback record
whose event id they have, and after a start or a rebalance the agent first waits until
this worker has read back every decision published so far (:mod:`streams.emitted`), so
the rules recognise a decision already made and do not make it again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import faust

from graph.aspects import extract_aspects
from streams import facts
from streams.codec import Rejection
from streams.processor import TRACE, BatchProcessor, BatchResult, FactsBuilder, Record
from streams.sequence import Sequencer
from streams.tables import Message, _dict, changelog_deletes, changelog_rows, get, send_all
from streams.ticks import Ticker

if TYPE_CHECKING:
    from streams.app import Pulse

log = logging.getLogger(__name__)

PRUNE_INTERVAL = 60.0
#: Table entries a pruning pass reads between two turns of the event loop.
PRUNE_SLICE = 20_000
#: Dead letters keep the original bytes up to this size (under the producer's 1 MiB
#: request limit); a larger payload is cut and says so in ``pulse.truncated_from``.
DEAD_LETTER_MAX_BYTES = 900_000
MAX_KEY_BYTES = 4096
#: The feedback log's only partition (:mod:`streams.replica` follows it alone).
FEEDBACK_PARTITION = 0


def register(pulse: Pulse) -> None:
    """Register the input agent on ``pulse.app``."""
    tables, settings = pulse.tables, pulse.settings
    processor = BatchProcessor(
        load_product=lambda pid: get(tables.products, pid),
        is_seen=lambda eid: get(tables.seen, eid) is not None,
        max_payload_bytes=settings.max_payload_bytes,
        max_future_skew=settings.max_future_skew,
        scorer=pulse.sentiment,
        rules=lambda: pulse.rules.current,
        facts=facts_builder(pulse),
        read_decision=pulse.read_decision,
        # a review's aspects, extracted once, here: its complaints count in the product's
        # state, and its feedback record carries them to every replica's graph
        aspects=extract_aspects,
    )
    lock = asyncio.Lock()
    pruners = [
        Pruner(
            pulse,
            tables.seen,
            "event ids",
            lambda: settings.dedup_horizon,
            on_newest=lambda ts: setattr(processor, "newest_ts", max(processor.newest_ts, ts)),
        ),
        Pruner(pulse, tables.decisions, "decision keys", lambda: pulse.rules.retention),
    ]

    @pulse.app.agent(pulse.topics.inputs, name="pulse-inputs")
    async def inputs(stream: faust.StreamT) -> None:
        # noack_take: events are acked here, after their batch is written, and never when
        # they were fetched before a rebalance (see ``current``)
        generation: int | None = None
        mark_applied = getattr(pulse.app.consumer, "mark_applied", None)
        sequencer = Sequencer[faust.EventT]() if hasattr(pulse.app.consumer, "seek_back") else None
        if TRACE:
            stream.add_processor(_trace_in_stream(stream))
        batches = stream.noack_take(settings.batch_size, settings.batch_within)  # type: ignore[attr-defined]
        try:
            async for taken in batches:
                started = time.perf_counter()
                events = current(pulse, taken)
                del taken  # unacked events are weakly tracked: dropped ones must be let go
                if not events:
                    continue
                if pulse.app.consumer_generation_id != generation:  # started, or rebalanced
                    if pulse.emitted is not None:  # a dead worker's last decisions are known
                        await pulse.emitted.caught_up()
                    generation = pulse.app.consumer_generation_id
                if sequencer is not None:  # each partition in offset order, no hole
                    events = await in_order(pulse, sequencer, events)
                    if not events:
                        continue
                if not processor.newest_ts:  # after a restart: where the restored ids stand
                    processor.newest_ts = newest_stamp(tables.seen)
                records = [_record(pulse, e) for e in events]
                if TRACE:
                    log.info("trace batch gen %s: %s", generation, _spans(records))
                async with lock:  # a tick never decides between our evaluation and our writes
                    result = processor.process(records)
                    await _emit(pulse, result)
                    await _store(pulse, result)
                if mark_applied is not None:  # their acks count for the commit (streams.consumer)
                    mark_applied(e.message for e in events)
                for event in events:
                    await stream.ack(event)
                for pruner in pruners:
                    pruner.maybe_prune(events)  # beside the agent, not in its way
                _count(pulse, result, records, started)
        finally:  # a pass in progress dies with the agent
            for pruner in pruners:
                pruner.cancel()

    pulse.app.task(Ticker(pulse, lock, state_of=processor.state_of).run)


def _trace_in_stream(stream: faust.StreamT) -> Callable[[object], object]:
    def trace(value: object) -> object:
        event = stream.current_event
        if event is not None:
            m = event.message
            log.info(
                "trace in stream %s[%d]@%d gen %s", m.topic, m.partition, m.offset, m.generation_id
            )
        return value

    return trace


def _spans(records: Sequence[Record]) -> str:
    spans: dict[str, list[int]] = {}
    for r in records:
        spans.setdefault(f"{r.topic}[{r.partition}]", []).append(r.offset)
    return ", ".join(f"{tp}@{min(o)}-{max(o)}/{len(o)}" for tp, o in sorted(spans.items()))


async def in_order(
    pulse: Pulse, sequencer: Sequencer[faust.EventT], events: Sequence[faust.EventT]
) -> list[faust.EventT]:
    """The events to apply now (:mod:`streams.sequence`): past a hole in a partition, its
    events are let go and the partition is fetched again from the first one missing."""
    consumer: Any = pulse.app.consumer
    committed = consumer._committed_offset  # noqa: SLF001 - where this generation's fetch began
    kept, dropped, seeks = sequencer.admit(
        pulse.app.consumer_generation_id,
        [(e.message.tp, e.message.offset, getattr(e.message, "pulse_seeks", 0), e) for e in events],
        committed.get,
    )
    if dropped:
        consumer.let_go(e.message for e in dropped)
        for topic, n in Counter(
            pulse.topics.logical_name(e.message.topic) for e in dropped
        ).items():
            pulse.metrics.events.labels(topic=topic, outcome="refetched").inc(n)
    for tp, offset in seeks.items():
        log.warning(
            "%s: messages from offset %d never reached the agent; fetching again", tp, offset
        )
        await consumer.seek_back(tp, offset)
    return kept


def current(pulse: Pulse, events: Sequence[faust.EventT]) -> list[faust.EventT]:
    """The events fetched in the consumer group's current generation.

    A batch can hold events fetched before a rebalance. After it, the group fetches
    each partition again from its committed offset, so an older event will come back;
    applying it now would apply a later offset of a partition before an earlier one,
    and the earlier one would then look redelivered (skipped: lost). Older events are
    dropped unacked, and counted as ``stale``.
    """
    generation = pulse.app.consumer_generation_id
    fresh = [e for e in events if e.message.generation_id == generation]
    if len(fresh) < len(events):
        stale = Counter(
            pulse.topics.logical_name(e.message.topic)
            for e in events
            if e.message.generation_id != generation
        )
        for topic, n in stale.items():
            pulse.metrics.events.labels(topic=topic, outcome="stale").inc(n)
        log.info("dropped %d events fetched before the last rebalance", len(events) - len(fresh))
    return fresh


def facts_builder(pulse: Pulse) -> FactsBuilder:
    """Facts for the processor: product state, the replica's user facts, model versions."""
    return facts.builder(pulse.replica, sentiment_version=lambda: pulse.sentiment.version)


def _record(pulse: Pulse, event: faust.EventT) -> Record:
    message = event.message
    return Record(
        topic=pulse.topics.logical_name(message.topic),
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        timestamp=message.timestamp,
    )


async def _emit(pulse: Pulse, result: BatchResult) -> None:
    """Send the batch's dead letters, scores, decisions and feedback records; return when
    the broker has them all."""
    topics = pulse.topics

    def messages() -> Iterator[Message]:
        for record, why in result.dead_letters:
            yield _dead_letter(pulse, record, why)
        for topic, out in ((topics.scored, result.scored), (topics.decisions, result.decisions)):
            name = topic.get_topic_name()
            for key, value in out:
                yield name, key, value, None, None
        # the log's one partition, named: the replicas read partition 0 and nothing else, and
        # the producer's partitioner would hash every key (pure-Python murmur2) to find it
        name = topics.feedback.get_topic_name()
        for key, value in result.feedback:
            yield name, key, value, FEEDBACK_PARTITION, None

    await send_all(pulse.app, messages())


def _dead_letter(pulse: Pulse, record: Record, why: Rejection) -> Message:
    log.warning(
        "dead letter from %s[%d]@%d: %s (%s)",
        record.topic,
        record.partition,
        record.offset,
        why.reason,
        why.detail[:200],
    )
    pulse.metrics.dead_letters.labels(topic=record.topic, reason=why.reason).inc()
    value = record.value or b""
    headers = {
        "pulse.reason": why.reason.encode(),
        "pulse.detail": why.detail.encode()[:4096],
        "pulse.topic": record.topic.encode(),
        "pulse.partition": str(record.partition).encode(),
        "pulse.offset": str(record.offset).encode(),
    }
    if len(value) > DEAD_LETTER_MAX_BYTES:  # the original stays in its topic, at its offset
        headers["pulse.truncated_from"] = str(len(value)).encode()
        value = value[:DEAD_LETTER_MAX_BYTES]
    key = record.key[:MAX_KEY_BYTES] if record.key else record.key
    return pulse.topics.dead_letter.get_topic_name(), key, value, None, headers


async def _store(pulse: Pulse, result: BatchResult) -> None:
    """Write the batch's table changes and wait until the broker has them.

    Product state (with its applied offsets) lands before the seen ids and decision
    keys: a seen id without its state would make a restarted worker drop the event
    as a duplicate, while state without its seen id is caught by the offsets.
    """
    tables, app = pulse.tables, pulse.app
    products = ((pid, p, value) for pid, (p, value) in result.products.items())
    await send_all(app, changelog_rows(tables.products, products, encode=itemgetter(0)))
    # (partition, ts) tuples: the collector stops tracking a tuple of atoms, not a list
    seen = ((eid, at[0], at) for eid, at in result.seen.items())
    keys = ((key, at[0], at) for key, at in result.decision_keys.items())
    await send_all(
        app,
        itertools.chain(changelog_rows(tables.seen, seen), changelog_rows(tables.decisions, keys)),
    )


def _count(pulse: Pulse, result: BatchResult, records: list[Record], started: float) -> None:
    metrics = pulse.metrics
    for (topic, outcome), n in result.outcomes.items():
        metrics.events.labels(topic=topic, outcome=outcome).inc(n)
    now = time.time()
    latency: dict[str, Callable[[float], None]] = {}
    for record in records:
        observe = latency.get(record.topic)
        if observe is None:
            observe = latency[record.topic] = metrics.event_latency.labels(record.topic).observe
        observe(max(0.0, now - record.timestamp))
    metrics.batch_size.observe(len(records))
    for (rule, action), n in result.decided.items():
        metrics.decisions.labels(rule=rule, action=action).inc(n)
    stats = result.rule_stats
    if stats.evaluated or result.rule_seconds:
        metrics.rules_eval_seconds.observe(result.rule_seconds)
    metrics.rules_evaluations.inc(stats.evaluated)
    if stats.duplicates:
        metrics.decisions_suppressed.labels(reason="duplicate").inc(stats.duplicates)
    if stats.cooling_down:
        metrics.decisions_suppressed.labels(reason="cooling_down").inc(stats.cooling_down)
    if result.rule_errors:
        metrics.rules_errors.inc(result.rule_errors)
    metrics.batch_duration.observe(time.perf_counter() - started)
    metrics.products.set(len(pulse.tables.products.data))


def newest_stamp(table: faust.Table) -> float:
    """The newest ``ts`` of a ``[partition, ts]`` table (0.0 when empty)."""
    return max((ts for _, ts in list(table.data.values())), default=0.0)


class Pruner:
    """Forgets table entries (``[partition, ts]`` values) older than a horizon, once a minute.

    Age is event time: relative to the newest entry, so a replay of old data keeps
    what it needs. A pruning pass runs beside the agent, in slices of :data:`PRUNE_SLICE`
    entries with a turn of the event loop between them: done inline, it stopped the agent
    for the whole scan (0.17-0.24 s with ~190,000 event ids, py-spy; it grows with the
    table, which holds up to ``PULSE_DEDUP_HORIZON`` of event ids). An entry is forgotten
    only if it is still stale when its tombstone is made, and nothing is forgotten once the
    consumer group has rebalanced since the pass began.
    """

    def __init__(
        self,
        pulse: Pulse,
        table: faust.Table,
        what: str,
        horizon: Callable[[], float],
        on_newest: Callable[[float], None] | None = None,
        send: Callable[[Any, Iterable[Message]], Awaitable[None]] = send_all,
    ):
        #: Told the newest stamp in the table at each run (rebalances bring newer ones).
        self.on_newest = on_newest
        self.pulse = pulse
        self.table = table
        self.what = what
        self.horizon = horizon
        self.send = send
        self.next_run = time.monotonic() + PRUNE_INTERVAL
        #: The pass in progress, if any.
        self.running: asyncio.Task[int] | None = None

    def maybe_prune(self, events: Sequence[faust.EventT]) -> asyncio.Task[int] | None:
        """Start a pass over the partitions of ``events`` when one is due (once a minute)
        and none is running; the task, which returns how many entries it forgot."""
        if time.monotonic() < self.next_run or (self.running and not self.running.done()):
            return None
        self.next_run = time.monotonic() + PRUNE_INTERVAL
        partitions = {e.message.partition for e in events}
        self.running = asyncio.create_task(self._pass(partitions))
        return self.running

    def cancel(self) -> None:
        """Stop the pass in progress (the agent is stopping)."""
        if self.running is not None:
            self.running.cancel()

    async def _pass(self, partitions: set[int]) -> int:
        try:
            return await self.prune(partitions)
        except asyncio.CancelledError:
            raise
        except Exception:  # the next pass tries again; the agent never stops for this
            log.exception("pruning %s failed", self.what)
            return 0

    async def prune(self, partitions: Collection[int]) -> int:
        """Forget the entries of ``partitions`` older than the horizon; how many. The
        tombstones go straight to the producer, as the agent's writes do (through Faust's
        one-message-at-a-time buffer, 40,000 of them stalled the agent for minutes)."""
        app, data = self.pulse.app, _dict(self.table)
        generation = app.consumer_generation_id
        keys = list(data)
        newest = 0.0
        for start in range(0, len(keys), PRUNE_SLICE):
            stamps = [
                value[1] for value in map(data.get, keys[start : start + PRUNE_SLICE]) if value
            ]
            newest = max(newest, max(stamps, default=0.0))
            await asyncio.sleep(0)
        if self.on_newest is not None:
            self.on_newest(newest)
        horizon = self.horizon()
        cutoff = newest - horizon
        stale: list[tuple[bytes, int]] = []
        for start in range(0, len(keys), PRUNE_SLICE):
            for key in keys[start : start + PRUNE_SLICE]:
                value = data.get(key)
                if value is not None and value[1] < cutoff and value[0] in partitions:
                    stale.append((key, value[0]))
            await asyncio.sleep(0)
        if app.consumer_generation_id != generation:  # the partitions may be another's now
            log.info("pruning %s skipped: the group rebalanced meanwhile", self.what)
            return 0

        def still_stale() -> Iterator[tuple[bytes, int]]:  # the agent may have renewed some
            for key, partition in stale:
                value = data.get(key)
                if value is not None and value[1] < cutoff:
                    yield key, partition

        forgotten = len(data)
        await self.send(app, changelog_deletes(self.table, still_stale()))
        forgotten -= len(data)
        if forgotten:
            log.info("forgot %d %s older than %.0f s", forgotten, self.what, horizon)
        return forgotten
