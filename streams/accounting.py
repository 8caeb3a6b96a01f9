"""Delivery accounting: proof, from Pulse's outputs and state, that nothing was lost or doubled.

Given every message that was published (a *ledger*: logical topic and payload, in
publishing order, repeats included), :func:`expect` works out, without Pulse's
worker code, what a correct run must show:

* each valid event's ``event_id`` once in the feedback log (the ledger of applied
  events), each review's once in ``reviews.scored``; a repeat there is allowed
  (at-least-once output, deduplicated downstream by ``event_id``) but counted;
* each product's totals (views, carts, removals, favorites, orders, units,
  reviews, ratings) equal to the sum over its valid events, each ``event_id``
  counted once: state must be exact, so a lost or doubled event shows here;
* each invalid payload in the dead-letter topic (matched by topic and payload digest),
  and no valid one there; a message dead-lettered again after a redelivery (same source
  topic, partition and offset in its headers) is a counted repeat, like a scored one;
* each ``decision_id`` on the decisions topic once.

:class:`Observer` reads the output topics (incrementally, outside any consumer group)
and every worker's ``/products`` audit view; a product's totals are taken from the worker
whose ``/health`` says it owns the product's partition. :func:`check` compares; the
report's ``ok`` is the verdict and ``problems`` says what differs, with examples.
:func:`wait_for_delivery` polls until the outputs add up or a timeout passes, since
workers may still be catching up when it starts.

``pulse check delivery`` runs it from the command line; integration tests use it after
killing and restarting workers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner
from pydantic import BaseModel

from streams.agents import DEAD_LETTER_MAX_BYTES
from streams.codec import Rejection, decode, encode
from streams.producing import Item
from streams.schemas import ClickEvent, ReviewEvent, SaleEvent
from streams.security import kafka_options
from streams.settings import Settings
from streams.topics import DEAD_LETTER, DECISIONS, FEEDBACK, INPUTS, SCORED

#: The product totals an event changes, compared exactly (``revenue`` is a float sum: its
#: order of addition differs between runs, so it is compared with a tolerance).
COUNTED = (
    "views",
    "carts",
    "removals",
    "favorites",
    "orders",
    "units",
    "reviews",
    "rating_sum",
    "rating_count",
)
_CLICKS = {"view": "views", "add_to_cart": "carts", "remove_from_cart": "removals"}
_CLICKS["favorite"] = "favorites"
#: How many examples a problem lists.
EXAMPLES = 10


def payload_digest(topic: str, payload: bytes | None, limit: int | None = None) -> str:
    """A short digest of a payload (its first ``limit`` bytes), to match dead letters.

    >>> payload_digest("clicks", b"x") == payload_digest("clicks", b"xy", limit=1)
    True
    """
    data = (payload or b"")[:limit] if limit is not None else (payload or b"")
    return hashlib.blake2b(topic.encode() + b"\0" + data, digest_size=12).hexdigest()


@dataclass
class Expected:
    """What a correct run shows for a ledger."""

    #: event_id -> logical topic, for every event that must be applied once.
    applied: dict[str, str] = field(default_factory=dict)
    reviews: set[str] = field(default_factory=set)
    totals: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    revenue: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    #: (topic, payload digest) of every message that must become a dead letter.
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejected_reasons: Counter[str] = field(default_factory=Counter)
    #: (topic, digest) -> what it is, for reports.
    rejected_why: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Messages whose event_id was seen before (a producer retry, a replayed file).
    duplicates: int = 0
    published: int = 0


def _payload(value: BaseModel | bytes) -> bytes:
    return encode(value) if isinstance(value, BaseModel) else value


def expect(
    ledger: Iterable[Item], max_payload_bytes: int, max_future_skew: float = 86_400.0
) -> Expected:
    """What Pulse must show after consuming every message of ``ledger``.

    >>> from streams.schemas import ClickEvent
    >>> click = ClickEvent(event_id="e1", ts=1.7e9, user_id="u", product_id="p", action="view")
    >>> out = expect([("clicks", click), ("clicks", click), ("sales", b"{")], 65536)
    >>> out.applied, dict(out.totals["p"]), out.duplicates, dict(out.rejected_reasons)
    ({'e1': 'clicks'}, {'views': 1}, 1, {'not_json': 1})
    """
    out = Expected()
    horizon = time.time() + max_future_skew
    for topic, value in ledger:
        out.published += 1
        payload = _payload(value)
        event = decode(topic, payload, max_payload_bytes)
        if not isinstance(event, Rejection) and event.ts > horizon:
            event = Rejection("future_timestamp", "")
        if isinstance(event, Rejection):
            # a dead letter keeps the payload's first DEAD_LETTER_MAX_BYTES bytes
            key = (topic, payload_digest(topic, payload, DEAD_LETTER_MAX_BYTES))
            out.rejected[key] += 1
            out.rejected_reasons[event.reason] += 1
            out.rejected_why[key] = f"{topic} {event.reason}, {len(payload):,} bytes"
            continue
        if event.event_id in out.applied:
            out.duplicates += 1
            continue
        out.applied[event.event_id] = topic
        counts = out.totals[event.product_id]
        if isinstance(event, ClickEvent):
            counts[_CLICKS[event.action]] += 1
        elif isinstance(event, SaleEvent):
            counts["orders"] += 1
            counts["units"] += event.quantity
            if event.price is not None:
                out.revenue[event.product_id] += event.quantity * event.price
        elif isinstance(event, ReviewEvent):
            out.reviews.add(event.event_id)
            counts["reviews"] += 1
            if event.rating is not None:
                counts["rating_sum"] += event.rating
                counts["rating_count"] += 1
    return out


@dataclass
class Observed:
    """What Pulse's outputs and state show so far."""

    feedback: Counter[str] = field(default_factory=Counter)
    scored: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    #: (topic, digest of the dead letter's value) -> count.
    dead_letters: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Source positions (topic, partition, offset) already dead-lettered, and repeats of them.
    dead_sources: set[tuple[str, bytes | None, bytes | None]] = field(default_factory=set)
    dead_repeats: int = 0
    dead_reasons: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0
    #: product id -> totals as its owner reports them.
    totals: dict[str, dict[str, float]] = field(default_factory=dict)
    #: products whose partition no worker claimed when asked.
    unowned: int = 0


class Observer:
    """Follows Pulse's output topics and asks workers for product totals."""

    def __init__(self, settings: Settings, bootstrap: str, workers: Sequence[str]):
        self.settings = settings
        self.bootstrap = bootstrap
        self.workers = [w.rstrip("/") for w in workers]
        self.seen = Observed()
        self._consumer: AIOKafkaConsumer | None = None
        self._names = {
            settings.topic(name): name for name in (FEEDBACK, SCORED, DECISIONS, DEAD_LETTER)
        }

    async def __aenter__(self) -> Observer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **kafka_options(self.settings),
        )
        await consumer.start()
        partitions = []
        for topic in self._names:
            for p in sorted(consumer.partitions_for_topic(topic) or ()):
                partitions.append(TopicPartition(topic, p))
        if not partitions:
            await consumer.stop()
            raise RuntimeError(f"none of {sorted(self._names)} exist on {self.bootstrap}")
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._consumer = consumer
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def poll(self, quiet: float = 1.0, limit: float = 60.0) -> Observed:
        """Read new output records until ``quiet`` s pass without one, then ask for state."""
        assert self._consumer is not None, "use Observer as an async context manager"
        deadline = time.monotonic() + limit
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet and time.monotonic() < deadline:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=20_000)
            for tp, records in batch.items():
                if records:
                    quiet_since = time.monotonic()
                name = self._names[tp.topic]
                for r in records:
                    self._count(name, r.value, dict(r.headers or ()))
        self.seen.totals, self.seen.unowned = await asyncio.to_thread(self._product_totals)
        return self.seen

    async def locate(self, event_ids: Sequence[str]) -> str:
        """Where ``event_ids`` sit in the input topics, and the group's committed offsets."""
        wanted, found = set(event_ids), []
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            **kafka_options(self.settings),
        )
        await consumer.start()
        try:
            inputs = [self.settings.topic(t) for t in INPUTS]
            tps = [
                TopicPartition(t, p)
                for t in inputs
                for p in sorted(consumer.partitions_for_topic(t) or ())
            ]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            quiet_since, ends = time.monotonic(), {}
            while time.monotonic() - quiet_since < 2.0:
                batch = await consumer.getmany(timeout_ms=300, max_records=50_000)
                for tp, records in batch.items():
                    quiet_since = time.monotonic() if records else quiet_since
                    for r in records:
                        ends[f"{tp.topic}[{tp.partition}]"] = r.offset + 1
                        if any(i.encode() in (r.value or b"") for i in wanted):
                            found.append(f"{tp.topic}[{tp.partition}]@{r.offset}")
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap, **kafka_options(self.settings)
            )
            await admin.start()
            try:
                # name the partitions: the embedded broker garbles the answer for "all"
                offsets = await admin.list_consumer_group_offsets(
                    self.settings.app_id, partitions=tps
                )
                committed = {
                    f"{tp.topic}[{tp.partition}]": meta.offset for tp, meta in offsets.items()
                }
            finally:
                await admin.close()
        finally:
            await consumer.stop()
        behind = {
            tp: f"{committed.get(tp, 'none')}/{end}"
            for tp, end in sorted(ends.items())
            if committed.get(tp, -1) != end
        }
        return (
            f"lost events at {', '.join(sorted(found)) or '-'}; input partitions whose "
            f"committed offset is not their end (committed/end): {behind or 'none'}"
        )

    def _count(self, name: str, value: bytes | None, headers: dict[str, bytes]) -> None:
        seen = self.seen
        if name == DEAD_LETTER:
            topic = headers.get("pulse.topic", b"").decode()
            where = (topic, headers.get("pulse.partition"), headers.get("pulse.offset"))
            if where in seen.dead_sources:  # the same message again, after a redelivery
                seen.dead_repeats += 1
                return
            seen.dead_sources.add(where)
            seen.dead_reasons[headers.get("pulse.reason", b"?").decode()] += 1
            seen.dead_letters[topic, payload_digest(topic, value)] += 1
            return
        try:
            record = orjson.loads(value or b"")
            if name == FEEDBACK:
                seen.feedback[str(record["event"]["event_id"])] += 1
            elif name == SCORED:
                seen.scored[str(record["event_id"])] += 1
            else:
                seen.decisions[str(record["decision_id"])] += 1
        except (orjson.JSONDecodeError, KeyError, TypeError):
            seen.unreadable += 1

    def _product_totals(self) -> tuple[dict[str, dict[str, float]], int]:
        """Each product's totals from the worker owning its partition (by /health)."""
        owners: dict[int, str] = {}
        for url in self.workers:
            for p in _get(url, "/health").get("assigned_partitions", []):
                owners[int(p)] = url
        totals: dict[str, dict[str, float]] = {}
        partitions = list(range(self.settings.partitions))
        partition_of = DefaultPartitioner()
        unowned = 0
        for url in self.workers:
            for pid, values in _all_products(url).items():
                p = partition_of(pid.encode(), partitions, partitions)
                if p not in owners:
                    unowned += 1
                elif owners[p] == url:
                    totals[pid] = values
        return totals, unowned


def _get(url: str, path: str) -> Any:
    try:
        with urllib.request.urlopen(url + path, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 503 and path == "/health":  # a worker still starting: its answer holds
            return json.loads(exc.read())
        raise


def _all_products(url: str) -> dict[str, dict[str, float]]:
    products: dict[str, dict[str, float]] = {}
    after = ""
    while True:
        page = _get(url, f"/products?limit=100000&after={urllib.parse.quote(after)}")
        products.update(page["products"])
        if not page["next"]:
            return products
        after = page["next"]


@dataclass
class Report:
    """The verdict of :func:`check`: ``ok`` when nothing was lost or doubled."""

    ok: bool
    problems: list[str]
    figures: dict[str, int]

    def summary(self) -> str:
        lines = ["delivery: OK" if self.ok else "delivery: PROBLEMS"]
        lines += [f"  {name}: {value:,}" for name, value in self.figures.items()]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems, "figures": self.figures}


def _examples(items: Iterable[Any]) -> str:
    shown = sorted(str(i) for i in items)
    more = f" and {len(shown) - EXAMPLES:,} more" if len(shown) > EXAMPLES else ""
    return ", ".join(shown[:EXAMPLES]) + more


def check(expected: Expected, observed: Observed) -> Report:
    """Compare what a run must show with what it shows."""
    problems: list[str] = []
    lost = set(expected.applied) - set(observed.feedback)
    unknown = set(observed.feedback) - set(expected.applied)
    if lost:
        problems.append(f"{len(lost):,} events never reached the feedback log: {_examples(lost)}")
    if unknown:
        problems.append(
            f"{len(unknown):,} events applied that were not published or are invalid: {_examples(unknown)}"
        )
    missing_scores = expected.reviews - set(observed.scored)
    if missing_scores:
        problems.append(
            f"{len(missing_scores):,} reviews never scored: {_examples(missing_scores)}"
        )
    doubled = [d for d, n in observed.decisions.items() if n > 1]
    if doubled:
        problems.append(
            f"{len(doubled):,} decision ids emitted more than once: {_examples(doubled)}"
        )

    lost_products, wrong, over = [], [], 0
    for pid, want in expected.totals.items():
        got = observed.totals.get(pid)
        if got is None:
            lost_products.append(pid)
            continue
        diff: dict[str, tuple[float, float]] = {
            k: (got.get(k, 0), want.get(k, 0)) for k in COUNTED if got.get(k, 0) != want.get(k, 0)
        }
        if abs(got.get("revenue", 0.0) - expected.revenue.get(pid, 0.0)) > 1e-6 * max(
            1.0, expected.revenue.get(pid, 0.0)
        ):
            diff["revenue"] = (got.get("revenue", 0.0), expected.revenue.get(pid, 0.0))
        if diff:
            wrong.append(f"{pid} {diff}")
            over += any(g > w for g, w in diff.values())
    if lost_products:
        problems.append(
            f"{len(lost_products):,} products absent from every worker's state: {_examples(lost_products)}"
        )
    if wrong:
        problems.append(
            f"{len(wrong):,} products' totals differ (got, expected): {_examples(wrong)}"
        )

    dead = observed.dead_letters
    missing_dead = +(expected.rejected - dead)
    extra_dead = +(dead - expected.rejected)
    if missing_dead:
        problems.append(
            f"{sum(missing_dead.values()):,} invalid messages not in the dead-letter topic: "
            + _examples(expected.rejected_why.get(k, str(k)) for k in missing_dead)
        )
    if extra_dead:
        problems.append(
            f"{sum(extra_dead.values()):,} dead letters for messages that were valid or repeated (reasons: {dict(observed.dead_reasons)})"
        )
    if observed.unreadable:
        problems.append(f"{observed.unreadable:,} output records unreadable")

    figures = {
        "published": expected.published,
        "valid events": len(expected.applied),
        "repeated event ids published": expected.duplicates,
        "invalid published": sum(expected.rejected.values()),
        "feedback records": sum(observed.feedback.values()),
        "feedback repeats (deduplicated by replicas)": sum(observed.feedback.values())
        - len(observed.feedback),
        "scored reviews": sum(observed.scored.values()),
        "scored repeats (same event_id)": sum(observed.scored.values()) - len(observed.scored),
        "dead letters": sum(observed.dead_reasons.values()),
        "dead-letter repeats (same source offset)": observed.dead_repeats,
        "decisions": sum(observed.decisions.values()),
        "decision ids repeated": len(doubled),
        "products checked": len(expected.totals),
        "products with wrong totals": len(wrong),
        "products over-counted": over,
        "events lost": len(lost),
    }
    return Report(ok=not problems, problems=problems, figures=figures)


async def wait_for_delivery(
    expected: Expected, observer: Observer, timeout: float = 120.0, quiet: float = 2.0
) -> Report:
    """Poll until the outputs add up (or ``timeout`` s pass); the last report either way.

    Doubles never heal, so they end the wait at once; losses may be work in progress.
    """
    deadline = time.monotonic() + timeout
    while True:
        report = check(expected, await observer.poll(quiet=quiet))
        figures = report.figures
        doubled = figures["decision ids repeated"] or figures["products over-counted"]
        if report.ok or doubled or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    if not report.ok:  # say where lost events sit, and where the group's commits stand
        lost = set(expected.applied) - set(observer.seen.feedback)
        report.problems.append(await observer.locate(sorted(lost)[:EXAMPLES]))
    return report
