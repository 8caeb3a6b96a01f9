"""One batch of input records -> dead letters, feedback records and product-state writes.

Framework-free, so it is unit-tested without Kafka: the Faust agent only turns
messages into :class:`Record` objects and writes out the :class:`BatchResult`.

Two kinds of repeats are told apart and neither is applied twice:

* **redelivered**: the same message again (same topic, partition, offset),
  after a crash or rebalance. Each product's stored state carries the last
  applied offset per source topic-partition, written in the same table record
  as the state itself, so the check is atomic with the update.
* **duplicate**: the same ``event_id`` published again (a producer retry, a
  replayed file). Pulse remembers event ids for ``dedup_horizon`` seconds of
  event time after they were seen: an id is stamped with the newest event time
  applied so far, not its own (a late event's retry must still be caught).

Reviews are scored in one model call per batch (:mod:`streams.scoring`); a
scored review goes to ``reviews.scored``, into the product's sentiment windows
and, with its sentiment, into the feedback log. Its aspects are extracted and the
clauses naming them scored in one more call (:mod:`streams.mentions`): its
complaints (negative mentions) go into the product's complaint windows, and its
mentions into its feedback record, for every replica's graph.

After an event is applied, the rules for its trigger run over its facts
(:mod:`streams.facts`). Their dedup and cooldown keys go into a batch-local
overlay of the ``decisions`` table; the agent publishes the decisions first and
writes the keys after, so a crash in between can repeat a decision (same
``decision_id``) but never lose one.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from graph.aspects import Extractor
from rules import EvalStats, RuleSet
from streams.codec import Rejection, decode
from streams.facts import FactsBuilder
from streams.mentions import Mention, record_fields, review_mentions
from streams.schemas import InputEvent, ReviewEvent
from streams.scoring import Scorer, Sentiment, score_texts
from streams.state import ProductState

log = logging.getLogger(__name__)
#: ``PULSE_TRACE_DELIVERY=1``: log every record's outcome with its offset (delivery debugging).
TRACE = os.environ.get("PULSE_TRACE_DELIVERY") == "1"

#: A product's changelog value: ``{"s": ProductState.to_dict(), "o": {"clicks:3": 1234},
#: "p": 3}`` (state, last applied offset per source partition, the product's partition).
StoredProduct = dict[str, Any]
#: A product's value in the table's memory as this worker writes it: ``(the changelog
#: value's JSON, the state's last_ts, the partition)``. Bytes and a tuple of atoms: the
#: cyclic collector leaves them alone (the dict form, rebuilt for every write, was a
#: tenth of a worker's time in allocation and collection). A value Faust restored from
#: the changelog is the :data:`StoredProduct` dict; read either with the helpers below.
Written = tuple[bytes, float, int]
#: The rules trigger of each input topic.
TRIGGERS = {"reviews": "review", "clicks": "click", "sales": "sale", "products": "product"}
#: Product states kept live between batches (the most recently written), so a busy
#: product is not rebuilt from its stored form for every batch.
LIVE_STATES = 20_000


#: An applied event with its product state after it, its sentiment and its mentions.
Applied = tuple[InputEvent, ProductState, "Sentiment | None", "list[Mention] | None"]


def stored_dict(value: Written | StoredProduct) -> StoredProduct:
    """A product's table value as its changelog dict.

    >>> stored_dict((b'{"s":{},"o":{},"p":2}', 0.0, 2))["p"]
    2
    """
    return orjson.loads(value[0]) if isinstance(value, tuple) else value


def stored_state(value: Written | StoredProduct) -> ProductState:
    """A product's table value as a new :class:`ProductState`."""
    return ProductState.from_dict(stored_dict(value)["s"])


def stored_last_ts(value: Written | StoredProduct) -> float:
    """The newest event time of a product's table value."""
    return value[1] if isinstance(value, tuple) else float(value["s"]["last_ts"])


def stored_partition(value: Written | StoredProduct) -> int | None:
    """The partition of a product's table value (None if written before partitions were)."""
    return value[2] if isinstance(value, tuple) else value.get("p")


def written(state: ProductState, offsets: dict[str, int], partition: int) -> Written:
    """The table value of ``state`` with its applied ``offsets`` on ``partition``."""
    payload = b'{"s":%b,"o":%b,"p":%d}' % (state.to_json(), orjson.dumps(offsets), partition)
    return payload, state.last_ts, partition


class BatchStore:
    """The ``decisions`` table as rules see it during a batch: its values, then this batch's.

    Writes stay here, by the partition of the event that made them, until the
    agent has published the batch's decisions.

    >>> store = BatchStore({"d:x": 1.0}.get)
    >>> store.partition = 3
    >>> store.put("d:y", 2.0)
    >>> store.get("d:x"), store.get("d:y"), store.pending
    (1.0, 2.0, {'d:y': (3, 2.0)})
    """

    def __init__(self, read: Callable[[str], float | None]):
        self.read = read
        self.partition = 0
        self.pending: dict[str, tuple[int, float]] = {}

    def get(self, key: str) -> float | None:
        hit = self.pending.get(key)
        return hit[1] if hit is not None else self.read(key)

    def put(self, key: str, value: float) -> None:
        self.pending[key] = (self.partition, value)


@dataclass(slots=True)
class Record:
    """One consumed message, by logical topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float = 0.0


@dataclass
class BatchResult:
    """What one batch asks the agent to write."""

    dead_letters: list[tuple[Record, Rejection]] = field(default_factory=list)
    feedback: list[tuple[bytes, bytes]] = field(default_factory=list)
    scored: list[tuple[bytes, bytes]] = field(default_factory=list)
    products: dict[str, tuple[int, Written]] = field(default_factory=dict)
    seen: dict[str, tuple[int, float]] = field(default_factory=dict)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: (key: subject id, value: the decision's JSON) in the order they were made.
    decisions: list[tuple[bytes, bytes]] = field(default_factory=list)
    decided: Counter[tuple[str, str]] = field(default_factory=Counter)
    decision_keys: dict[str, tuple[int, float]] = field(default_factory=dict)
    rule_stats: EvalStats = field(default_factory=EvalStats)
    rule_errors: int = 0
    #: Time spent building facts and evaluating rules in this batch.
    rule_seconds: float = 0.0
    #: The event the last record applied (for rules), with its product state, sentiment
    #: and mentions.
    last_applied: Applied | None = None


def feedback_record(
    topic: str,
    event: InputEvent,
    sentiment: Sentiment | None = None,
    mentions: Sequence[Mention] | None = None,
) -> tuple[bytes, bytes]:
    """Key and value of an event's feedback-log record; a review's carries its aspects
    and their clauses' scores when given (every replica's graph takes them instead of
    extracting them again).

    >>> from streams.schemas import ClickEvent
    >>> e = ClickEvent(event_id="e1", ts=1.7e9, user_id="u", product_id="p", action="view")
    >>> feedback_record("clicks", e)[1][:40]
    b'{"topic":"clicks","event":{"schema_versi'
    """
    value: dict[str, Any] = {
        "topic": topic,
        "event": event.model_dump(mode="json", exclude_none=True),
    }
    if sentiment is not None:
        value["sentiment"] = sentiment.fields()
    if mentions is not None:
        value.update(record_fields(mentions))
    return event.event_id.encode(), orjson.dumps(value)


def scored_record(review: ReviewEvent, sentiment: Sentiment) -> tuple[bytes, bytes]:
    """Key (product id) and value of a review's ``reviews.scored`` record."""
    value = {**review.model_dump(mode="json", exclude_none=True), **sentiment.fields()}
    return review.product_id.encode(), orjson.dumps(value)


class BatchProcessor:
    """Applies batches of records against stored product state and seen event ids."""

    def __init__(
        self,
        load_product: Callable[[str], Written | StoredProduct | None],
        is_seen: Callable[[str], bool],
        max_payload_bytes: int,
        max_future_skew: float = 86_400.0,
        clock: Callable[[], float] = time.time,
        scorer: Scorer | None = None,
        model_version: str = "",
        rules: Callable[[], RuleSet] | None = None,
        facts: FactsBuilder | None = None,
        read_decision: Callable[[str], float | None] = lambda key: None,
        aspects: Extractor | None = None,
    ):
        self.load_product = load_product
        self.is_seen = is_seen
        self.max_payload_bytes = max_payload_bytes
        self.max_future_skew = max_future_skew
        self.clock = clock
        self.scorer = scorer
        self.model_version = model_version
        self.rules = rules
        self.facts = facts
        self.read_decision = read_decision
        #: Extracts a review's aspects once, for its complaints and its feedback record
        #: (None: no complaints, and aspects left to the replicas).
        self.aspects = aspects
        #: The newest event time applied so far (seen ids are stamped with it).
        self.newest_ts = 0.0
        #: product id -> (the table value this processor last wrote, its live state and
        #: offsets): a product whose stored value is still that very object needs no
        #: rebuilding (an OrderedDict: evicting the oldest of a plain dict scans the deleted
        #: entries in front of it, which cost 2.6 % of a worker's time at 20,000 states)
        self._live: OrderedDict[str, tuple[Written, ProductState, dict[str, int]]]
        self._live = OrderedDict()

    def process(self, records: Sequence[Record]) -> BatchResult:
        result = BatchResult()
        states: dict[str, tuple[ProductState, dict[str, int], int]] = {}
        decoded = [self._decode(record) for record in records]
        sentiments = self._score(decoded)
        mentions = self._mentions(decoded, sentiments)
        # one rule set per batch, whatever a reload does meanwhile
        rules = self.rules() if self.rules is not None and self.facts is not None else None
        store = BatchStore(self.read_decision)
        for i, record in enumerate(records):
            result.last_applied = None
            try:
                self._one(record, decoded[i], sentiments.get(i), mentions.get(i), result, states)
            except Exception as exc:  # a bug must cost one event, never the worker
                log.exception(
                    "processing %s[%d]@%d failed", record.topic, record.partition, record.offset
                )
                why = Rejection("processing_error", f"{type(exc).__name__}: {exc}"[:1000])
                result.dead_letters.append((record, why))
                result.outcomes[record.topic, "dead_letter"] += 1
                continue
            if rules is not None and result.last_applied is not None:
                started = time.perf_counter()
                try:
                    self._decide(rules, store, record, result)
                except Exception:  # the event is applied; only its decisions are lost
                    log.exception(
                        "rules on %s[%d]@%d failed", record.topic, record.partition, record.offset
                    )
                    result.rule_errors += 1
                result.rule_seconds += time.perf_counter() - started
        live = self._live
        for pid, (state, offsets, partition) in states.items():
            value = written(state, offsets, partition)
            result.products[pid] = (partition, value)
            live[pid] = (value, state, offsets)
            live.move_to_end(pid)
        while len(live) > LIVE_STATES:
            live.popitem(last=False)
        result.decision_keys = store.pending
        return result

    def state_of(self, product_id: str, stored: Written | StoredProduct) -> ProductState:
        """The state of a product's table value: the live one when the table still holds
        what this processor wrote (to read, never to change), else a new one from it."""
        live = self._live.get(product_id)
        if live is not None and live[0] is stored:
            return live[1]
        return stored_state(stored)

    def _decide(
        self, rules: RuleSet, store: BatchStore, record: Record, result: BatchResult
    ) -> None:
        assert result.last_applied is not None and self.facts is not None
        event, state, sentiment, mentions = result.last_applied
        trigger = TRIGGERS[record.topic]
        facts = self.facts(trigger, event, state, sentiment, mentions)
        store.partition = record.partition
        for decision in rules.evaluate(trigger, facts, store, self.clock(), result.rule_stats):
            result.decisions.append(
                (decision.subject_id.encode(), orjson.dumps(decision.to_dict()))
            )
            result.decided[decision.rule_id, decision.action] += 1

    def _decode(self, record: Record) -> InputEvent | Rejection:
        event = decode(record.topic, record.value, self.max_payload_bytes)
        if not isinstance(event, Rejection) and event.ts > self.clock() + self.max_future_skew:
            return Rejection(
                "future_timestamp",
                f"ts {event.ts} is more than "
                f"{self.max_future_skew:.0f} s ahead of this worker's clock",
            )
        return event

    def _score(self, decoded: list[InputEvent | Rejection]) -> dict[int, Sentiment | str]:
        reviews = [i for i, e in enumerate(decoded) if isinstance(e, ReviewEvent)]
        if self.scorer is None or not reviews:
            return {}
        texts = [decoded[i].text for i in reviews]  # type: ignore[union-attr]
        # read once: a model swapped between batches never splits one
        version = getattr(self.scorer, "version", self.model_version)
        return dict(zip(reviews, score_texts(self.scorer, version, texts), strict=True))

    def _mentions(
        self, decoded: list[InputEvent | Rejection], sentiments: dict[int, Sentiment | str]
    ) -> dict[int, list[Mention] | None]:
        """Each review's mentions (:func:`~streams.mentions.review_mentions`), by index;
        none for a review its model failed on (it is dead-lettered)."""
        if self.aspects is None:
            return {}
        reviews: list[tuple[int, ReviewEvent, Sentiment | None]] = []
        for i, event in enumerate(decoded):
            scored = sentiments.get(i)
            if isinstance(event, ReviewEvent) and not isinstance(scored, str):
                reviews.append((i, event, scored))
        if not reviews:
            return {}
        version = getattr(self.scorer, "version", self.model_version)
        scorer = getattr(self.scorer, "clauses", self.scorer)  # the live model counts apart
        try:
            found = review_mentions(self.aspects, scorer, version, [r[1:] for r in reviews])
        except Exception:  # a bug here must not cost the batch: the reviews apply without
            log.exception("mentions of %d reviews failed", len(reviews))
            return {}
        return {i: m for (i, _, _), m in zip(reviews, found, strict=True)}

    def _one(
        self,
        record: Record,
        event: InputEvent | Rejection,
        sentiment: Sentiment | str | None,
        mentions: list[Mention] | None,
        result: BatchResult,
        states: dict[str, Any],
    ) -> None:
        if isinstance(sentiment, str):
            event = Rejection("processing_error", f"sentiment model failed: {sentiment}")
        if isinstance(event, Rejection):
            result.dead_letters.append((record, event))
            result.outcomes[record.topic, "dead_letter"] += 1
            return
        state, offsets, _ = states.get(event.product_id) or self._load(event.product_id, record)
        states[event.product_id] = (state, offsets, record.partition)
        # an id is remembered from the event time the stream has reached when it is seen:
        # a late event (old ts) and its retry are then as far apart as they really are
        self.newest_ts = seen_at = max(self.newest_ts, event.ts)
        where = f"{record.topic}:{record.partition}"
        if offsets.get(where, -1) >= record.offset:
            result.seen[event.event_id] = (record.partition, seen_at)
            result.outcomes[record.topic, "redelivered"] += 1
            if TRACE:
                log.info(
                    "trace redelivered %s@%d %s (at %d)",
                    where,
                    record.offset,
                    event.event_id,
                    offsets[where],
                )
            return
        offsets[where] = record.offset
        if event.event_id in result.seen or self.is_seen(event.event_id):
            result.outcomes[record.topic, "duplicate"] += 1
            if TRACE:
                log.info("trace duplicate %s@%d %s", where, record.offset, event.event_id)
            return
        if TRACE:
            log.info("trace applied %s@%d %s", where, record.offset, event.event_id)
        state.apply(event)
        scored = sentiment if isinstance(sentiment, Sentiment) else None
        if scored is not None and isinstance(event, ReviewEvent):
            state.apply_sentiment(event.ts, scored.score, scored.label == "negative")
            result.scored.append(scored_record(event, scored))
        if mentions:
            state.apply_complaints(event.ts, [m.aspect for m in mentions if m.negative])
        result.seen[event.event_id] = (record.partition, seen_at)
        result.last_applied = (event, state, scored, mentions)
        result.feedback.append(feedback_record(record.topic, event, scored, mentions))
        result.outcomes[record.topic, "processed"] += 1

    def _load(self, product_id: str, record: Record) -> tuple[ProductState, dict[str, int], int]:
        stored = self.load_product(product_id)
        if stored is None:
            return ProductState(), {}, record.partition
        live = self._live.get(product_id)
        if live is not None and live[0] is stored:
            return live[1], dict(live[2]), record.partition
        data = stored_dict(stored)  # restored, rebalanced, or a batch that failed to write
        return ProductState.from_dict(data["s"]), dict(data["o"]), record.partition
