"""The feedback replica: every worker applies the whole feedback log, in order.

It reads the single-partition feedback topic outside any consumer group (each
worker gets every record) and feeds the local recommenders, deduplicating by
event id (a crash may append an event twice). Queries are served from here, and
the user facts of the rules: :attr:`FeedbackReplica.users` learns every click and
sale, and :meth:`FeedbackReplica.user_facts` answers for the event being evaluated.

The replica lags the input agent by the feedback log's round trip and holds
events from every partition, so user facts are as fresh as the log, not as a
replay: a replayed event may see more, or fewer, of the user's other events.

Each new record then goes to every *replicated model* in :attr:`FeedbackReplica.models`
(``learn(record, offset)`` on the hot path, ``after_batch(offset)`` between fetches):
the hybrid recommender (:mod:`streams.reco_replica`, first: it scores a sampled record
before anything learns it) and the knowledge graph (:mod:`streams.graph_replica`). The
log is always read from offset 0, so the popularity model, user facts and the event-id
window are rebuilt from the whole log at every start; a model with a snapshot (the
graph, the recommender) skips the records its snapshot already holds.

With a models process (:mod:`streams.models_process`, ``PULSE_MODELS_PROCESS``) the worker's
replica is built with ``models=False``: it keeps the user facts, popularity and event-id
window, and :attr:`FeedbackReplica.remote` asks the child, whose own replica (``users=False``)
holds the graph and the recommender, for the rules' recommendations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from models.popularity import STATE_VERSION, DecayedPopularity
from models.reco.state import STATE_VERSION as RECO_STATE_VERSION
from streams.graph_replica import GraphReplica
from streams.metrics import Metrics
from streams.reco_replica import RecoReplica
from streams.schemas import ClickEvent, InputEvent, ReviewEvent, SaleEvent
from streams.security import kafka_options
from streams.settings import Settings
from streams.topics import FEEDBACK
from streams.users import UserActivity

log = logging.getLogger(__name__)

#: Interaction weights of the popularity model: view < favourite < cart < purchase.
WEIGHTS = {"view": 1.0, "favorite": 2.0, "add_to_cart": 3.0, "sale": 5.0}
#: User facts' recommendations come from the global top this many items, reread after
#: ``HEAD_TTL`` seconds (ranking per event costs ~50 us; filtering a cached head ~1 us).
HEAD_ITEMS, HEAD_TTL = 64, 1.0
#: Events evaluated here but not yet back from the feedback log, kept per user / users.
IN_FLIGHT_PER_USER, IN_FLIGHT_USERS = 256, 10_000
#: Within a fetched batch, give the event loop a turn after this many seconds of applying
#: (reviews cost ~1 ms each in the graph's aspect extraction; views and agents must not wait).
YIELD_AFTER = 0.02


#: Outcomes of a feedback record (``pulse_feedback_applied_total{outcome}``).
APPLY_OUTCOMES = ("applied", "duplicate", "invalid")


class ReplicatedModel(Protocol):
    """A model every worker builds from the whole feedback log, in log order."""

    def learn(self, record: dict[str, Any], offset: int) -> None:
        """Apply one record (never seen before by the replica) found at ``offset``."""

    def after_batch(self, offset: int) -> None:
        """Between fetches, on the event loop; ``offset``: the next record to apply."""


class RecentIds:
    """Event ids seen recently, bounded by count (oldest forgotten first).

    >>> ids = RecentIds(2)
    >>> [ids.add(x) for x in "aab"], ids.add("c"), "a" in ids
    ([True, False, True], True, False)
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, event_id: str) -> bool:
        """Remember ``event_id``; False if it was already known."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.limit:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids


class FeedbackReplica:
    """Applies feedback-log records to this worker's recommender replicas."""

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        metrics: Metrics,
        *,
        models: bool = True,
        users: bool = True,
    ):
        """``models``: keep the graph and the recommender here, as the settings say (False:
        a models process keeps them, and :attr:`remote` asks it for recommendations);
        ``users``: learn the user facts (a models process has no use for them)."""
        self.settings = settings
        self.bootstrap = bootstrap
        self.metrics = metrics
        self.popularity = DecayedPopularity(half_life=settings.popularity_half_life)
        self.users = UserActivity()
        #: Reported as ``recommender_model_version``.
        self.recommender_version = (
            f"popularity-{STATE_VERSION}:half_life={settings.popularity_half_life:g}s"
        )
        self.clock = time.monotonic
        self._head: list[str] = []
        self._head_at = -math.inf
        self.recent = RecentIds(settings.replica_dedup_ids)
        self.learn_users = users
        #: The user's top ``k`` from the models process (None: it did not answer).
        self.remote: Callable[[str, int], list[str] | None] | None = None
        #: Give the event loop a turn after applying for this long, s.
        self.yield_after = YIELD_AFTER
        self._flight: OrderedDict[str, deque[InputEvent]] = OrderedDict()
        self.offset = 0
        self.applied = 0
        self._counted = {o: metrics.feedback_applied.labels(outcome=o) for o in APPLY_OUTCOMES}
        #: This worker's knowledge graph (None when PULSE_GRAPH_ENABLED is false).
        self.graph = (
            GraphReplica(settings, metrics, settings.topic(FEEDBACK))
            if settings.graph_enabled and models
            else None
        )
        #: This worker's hybrid recommender (None when PULSE_RECO_ENABLED is false).
        self.reco = (
            RecoReplica(settings, metrics, settings.topic(FEEDBACK), self.graph, self.popularity)
            if settings.reco_enabled and models
            else None
        )
        if settings.reco_enabled:
            self.recommender_version = (
                f"hybrid-{RECO_STATE_VERSION}:half_life={settings.reco_half_life:g}s,"
                f"seed={settings.reco_seed}"
            )
        #: Models fed every new record before popularity and user facts, in this order.
        self.models: list[ReplicatedModel] = [m for m in (self.reco, self.graph) if m is not None]

    def apply(self, value: bytes, offset: int = 0) -> bool:
        """Apply the feedback record found at ``offset``; False for a repeat or an
        unreadable record (one the replicated models refuse is counted by them)."""
        try:
            record = orjson.loads(value)
            topic, event = record["topic"], record["event"]
            event_id = str(event["event_id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self._counted["invalid"].inc()
            return False
        if not self.recent.add(event_id):
            self._counted["duplicate"].inc()
            return False
        for model in self.models:
            model.learn(record, offset)
        try:
            self._learn(topic, event)
        except (KeyError, TypeError, ValueError) as exc:  # never stop following the log
            log.warning("feedback record %s not applied: %r", event.get("event_id"), exc)
            self._counted["invalid"].inc()
            return False
        self.applied += 1
        self._counted["applied"].inc()
        return True

    def _learn(self, topic: str, event: dict[str, Any]) -> None:
        kind = (
            event.get("action") if topic == "clicks" else topic[:-1] if topic == "sales" else None
        )
        user = _user_args(event, kind) if kind is not None else None  # checked before learning
        if kind in WEIGHTS:
            self._popular(event, kind)
        elif topic == "reviews" and (event.get("rating") or 0) >= 4:
            self._popular(event, "favorite")
        if user is not None and self.learn_users:
            self.users.learn_one(*user)

    def _popular(self, event: dict[str, Any], kind: str) -> None:
        self.popularity.learn_one(
            event["user_id"],
            event["product_id"],
            WEIGHTS[kind],
            event["ts"],
            category_id=event.get("category_id"),
            purchased=kind == "sale",
        )

    def user_facts(
        self, event: ReviewEvent | ClickEvent | SaleEvent, recommendations: int = 5
    ) -> dict[str, Any]:
        """The user facts of ``event`` (learned or not), with the user's top
        ``recommendations`` product ids (none asked: the fact is left out)."""
        facts = self.user_facts_later(event)()
        if recommendations > 0:
            facts["user_top_recommendations"] = self.top_items(event.user_id, recommendations)
        return facts

    def user_facts_later(
        self, event: ReviewEvent | ClickEvent | SaleEvent
    ) -> Callable[[], dict[str, Any]]:
        """Count ``event`` in flight now; the function returned gives its user facts (without
        recommendations) as of now, if called before the replica learns anything more."""
        pending, users = self._in_flight(event), self.users
        return lambda: users.facts(event.user_id, event.product_id, event.ts, pending=pending)

    def _in_flight(self, event: ReviewEvent | ClickEvent | SaleEvent) -> list[InputEvent]:
        """This user's events evaluated here but not yet back from the log, ``event`` last.

        An event's feedback record reaches the replica a batch or so after its rules
        ran; until then its user facts must still count it, and the events of the same
        batch before it.
        """
        queue = self._flight.get(event.user_id)
        if queue is None:
            queue = self._flight[event.user_id] = deque(maxlen=IN_FLIGHT_PER_USER)
            if len(self._flight) > IN_FLIGHT_USERS:  # forget the oldest user's queue
                self._flight.popitem(last=False)
        while queue and queue[0].event_id in self.recent:
            queue.popleft()
        if event.event_id not in self.recent:
            queue.append(event)
        return [e for e in queue if e.event_id not in self.recent]

    def top_items(self, user_id: str, k: int) -> list[str]:
        """The hybrid's ``k`` best for the user (reused for PULSE_RECO_FACTS_TTL s), here or
        from the models process; with the recommender off, or the models process not
        answering, :meth:`recommend`'s, from a global head at most ``HEAD_TTL`` s old."""
        if self.reco is not None:
            return self.reco.top_items(user_id, k)
        if self.remote is not None:
            items = self.remote(user_id, k)
            if items is not None:
                return items
        now = self.clock()
        if now - self._head_at > HEAD_TTL:
            self._head = [item for item, _ in self.popularity.rank(None, HEAD_ITEMS)]
            self._head_at = now
        bought = self.popularity.purchases(user_id)
        top = [item for item in self._head if item not in bought][:k]
        if len(top) < k and len(self._head) == HEAD_ITEMS:  # the head is too short for them
            return [item for item, _ in self.recommend(user_id, k)]
        return top

    def recommend(
        self, user_id: str, k: int, exclude_categories: Collection[str] = ()
    ) -> list[tuple[str, float]]:
        """The popularity model's ``k`` best for the user (never what they bought), none in
        ``exclude_categories``."""
        if not exclude_categories:
            return self.popularity.rank(user_id, k)
        n, category = k, self.popularity._category.get  # noqa: SLF001 (read only)
        while True:  # ask for more until k are left or the model has no more
            ranked = self.popularity.rank(user_id, n)
            kept = [(i, s) for i, s in ranked if category(i) not in exclude_categories]
            if len(kept) >= k or len(ranked) < n:
                return kept[:k]
            n *= 4

    async def run(self) -> None:
        """Load the snapshots (graph first: the recommender reads it), then follow the
        feedback log until cancelled."""
        if self.graph is not None:
            await asyncio.to_thread(self.graph.restore)
        if self.reco is not None:
            await asyncio.to_thread(self.reco.restore)
        tp = TopicPartition(self.settings.topic(FEEDBACK), 0)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **kafka_options(self.settings),
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            consumer.seek(tp, self.offset)
            unchecked = [m for m in (self.graph, self.reco) if m is not None]
            while True:
                batches = await consumer.getmany(tp, timeout_ms=200, max_records=5000)
                records = batches.get(tp, [])
                end = consumer.highwater(tp)  # a fetch's high watermark: exact on Tansu too
                if unchecked and (records or end is not None):
                    for follower in unchecked:
                        follower.check_log(end if end is not None else records[-1].offset + 1)
                    unchecked = []
                if self.reco is not None:
                    await self.reco.capturing()  # a snapshot copies the state in a thread
                await self._apply_batch(records)
                self.metrics.feedback_offset.set(self.offset)
                self.metrics.reco_items.set(len(self.popularity))
                for model in self.models:
                    model.after_batch(self.offset)
                await asyncio.sleep(0)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _apply_batch(self, records: list[Any]) -> None:
        """Apply fetched records in order, letting the loop run every :attr:`yield_after` s
        (between two records: :attr:`offset` always matches what has been applied)."""
        clock = time.perf_counter
        turn = clock() + self.yield_after
        for i, record in enumerate(records):
            self.apply(record.value, record.offset)
            self.offset = record.offset + 1
            if i & 3 == 3 and clock() > turn:
                await asyncio.sleep(0)
                turn = clock() + self.yield_after


def _user_args(event: dict[str, Any], kind: str) -> tuple[str, str, str, float, float]:
    """``UserActivity.learn_one``'s arguments for a feedback event (TypeError if malformed)."""
    user_id, product_id, ts = event["user_id"], event["product_id"], event["ts"]
    if not (isinstance(user_id, str) and isinstance(product_id, str)):
        raise TypeError("user_id and product_id must be strings")
    price = event.get("price")
    amount = float(event.get("quantity", 1)) * float(price) if price is not None else 0.0
    return user_id, product_id, kind, float(ts), amount
