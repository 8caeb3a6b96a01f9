"""End to end: a realistic mixed stream through Pulse workers, with their baselines, in one run.

    .venv/bin/python bench/e2e.py [--events 200000] [--review-events 5000] [--workers 1]
        [--rate EVENTS_PER_S] [--seconds 90] [--warmup 5] [--seed 7] [--zh-share 0.2]
        [--mix clicks=0.90,sales=0.03,reviews=0.05,products=0.02]
        [--skip-clicks-sales] [--skip-mixed] [--skip-reviews] [--skip-latency]
        [--skip-bare] [--skip-faust] [--json PATH] [--env NAME=VALUE ...]

(data: ../shared/data; what each figure means: docs/performance.md)

One embedded broker; each phase has its own topics and a fresh worker group:

1. clicks+sales backlog: publish ``--events`` Taobao clicks and sales, start the worker(s),
   time from ready until /metrics has counted them all: events/s by topic, worker CPU
   seconds, peak resident memory; the feedback replica's catch-up after.
2. mixed backlog: the same with clicks, sales, reviews and product updates (``--mix``).
3. reviews only: reviews/s of the worker against the bare sentiment engine on the same
   texts, ``PULSE_BATCH_SIZE`` at a time, on the CPU (ratio; target >= 0.85).
4. latency: the mixed stream at ``--rate`` events/s (default: half of phase 2's rate) for
   ``--warmup`` + ``--seconds`` (the events of the warm-up are not measured: a fresh worker
   loads lexicons and fills caches); p50/p95/p99 from publication to the event's feedback-log record (own
   measurement), to its state write (the worker's histogram), and to each decision it made.

Baselines on the same topics and events (phases 1 and 2): a bare aiokafka consumer that
reads and decodes JSON (``bench/replay.py``), and the minimal Faust agent of
``bench/faust_floor.py`` (one table update per event). Every figure is measured in the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import gzip
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

# Run as a script, this file's folder comes first on sys.path and bench/rules.py would hide
# the rules package: the repository root goes there instead (as in bench/burst.py).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from streams.broker import EmbeddedBroker  # noqa: E402
from streams.codec import encode  # noqa: E402
from streams.live import event_counts, metric_sum  # noqa: E402
from streams.procs import WorkerProcess  # noqa: E402
from streams.producing import Pacer, start_producer  # noqa: E402
from streams.replay import read_dataset  # noqa: E402
from streams.schemas import ClickEvent, ProductEvent, ReviewEvent, SaleEvent  # noqa: E402
from streams.settings import Settings, load_settings  # noqa: E402
from streams.topics import DECISIONS, FEEDBACK, INPUTS, ensure_topics  # noqa: E402

BENCH = Path(__file__).resolve().parent
DATA = BENCH.parent / ".." / "shared" / "data"
TAOBAO = "ecom_taobao_userbehavior_sample/UserBehavior_sample.csv"
REVIEWS_EN = "en_amazon_multidomain_sentiment/multidomain_sentiment_labeled.csv.gz"
REVIEWS_ZH = "chn_online_shopping_10_cats/online_shopping_10_cats.csv.gz"
#: Reviews and product updates concern one of this many most recent clicks.
RECENT_CLICKS = 2_000
QUANTILES = (0.5, 0.95, 0.99)
LATENCY = "pulse_stream_event_latency_seconds"
#: The batch processor's waits for the models process (PULSE_MODELS_PROCESS).
FACTS_WAIT = "pulse_models_facts_wait_seconds"
#: A published event: (logical topic, key, JSON value, event id).
Payload = tuple[str, bytes, bytes, str]


# -- the stream ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """Shares of each input topic in the stream (normalised to sum to 1)."""

    clicks: float = 0.90
    sales: float = 0.03
    reviews: float = 0.05
    products: float = 0.02

    @classmethod
    def parse(cls, text: str) -> Mix:
        """``clicks=0.9,sales=0.03,...``; topics left out get 0.

        >>> Mix.parse("clicks=3,sales=1").shares()
        {'clicks': 0.75, 'sales': 0.25, 'reviews': 0.0, 'products': 0.0}
        """
        pairs = dict(part.split("=", 1) for part in text.split(",") if part.strip())
        unknown = set(pairs) - set(INPUTS)
        if unknown:
            raise ValueError(f"unknown topics in --mix: {', '.join(sorted(unknown))}")
        return cls(**{t: float(pairs.get(t, 0.0)) for t in INPUTS})

    def only(self, *topics: str) -> Mix:
        """The same shares for ``topics``, the others at 0."""
        return Mix(**{t: getattr(self, t) if t in topics else 0.0 for t in INPUTS})

    def shares(self) -> dict[str, float]:
        total = sum(getattr(self, t) for t in INPUTS)
        if total <= 0 or any(getattr(self, t) < 0 for t in INPUTS):
            raise ValueError(f"mix shares must be >= 0 and not all 0: {self}")
        return {t: getattr(self, t) / total for t in ("clicks", "sales", "reviews", "products")}


@dataclass
class Sources:
    """Real events to draw from: Taobao clicks and buys (file order), review texts."""

    clicks: list[ClickEvent]
    sales: list[SaleEvent]
    reviews: list[ReviewEvent]

    @property
    def span(self) -> float:
        """Seconds of event time the Taobao file covers, plus one (a pass's time shift)."""
        stamps = [e.ts for e in self.clicks + self.sales]
        return max(stamps) - min(stamps) + 1.0


def load_sources(data: Path, zh_share: float, seed: int) -> Sources:
    """Taobao clicks and sales; English reviews and ``zh_share`` Chinese ones, shuffled."""
    missing = [p for p in (TAOBAO, REVIEWS_EN, REVIEWS_ZH) if not (data / p).exists()]
    if missing:
        raise SystemExit(f"datasets not found under {data.resolve()}: {', '.join(missing)}")
    taobao = list(read_dataset(data / TAOBAO))
    clicks = [e for t, e in taobao if isinstance(e, ClickEvent)]
    sales = [e for t, e in taobao if isinstance(e, SaleEvent)]
    english = [e for _, e in read_dataset(data / REVIEWS_EN) if isinstance(e, ReviewEvent)]
    n_zh = round(len(english) * zh_share / (1 - zh_share)) if 0 < zh_share < 1 else 0
    reviews = english + chinese_reviews(data / REVIEWS_ZH, n_zh, seed)
    random.Random(seed).shuffle(reviews)
    return Sources(clicks, sales, reviews)


def chinese_reviews(path: Path, n: int, seed: int) -> list[ReviewEvent]:
    """``n`` non-blank reviews of online_shopping_10_cats, drawn with ``seed``."""
    with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
        rows = [
            (i, r) for i, r in enumerate(csv.DictReader(f), 1) if (r.get("review") or "").strip()
        ]
    picked = random.Random(seed).sample(rows, min(n, len(rows)))
    return [
        ReviewEvent(
            event_id=f"chn:{i}",
            ts=1.5e9,  # replaced by the stream's clock
            user_id="anonymous",
            product_id="unknown",
            text=r["review"].strip().lstrip("\ufeff")[:20_000],
            lang="zh",
        )
        for i, r in sorted(picked, key=lambda p: p[0])
    ]


class MixedStream:
    """An endless, deterministic stream of input events in the shares of ``mix``.

    Clicks and sales come from the Taobao file in order; their event time is the stream's
    clock (the time of the latest click). Each review (real text) and product update
    (stock, price, lead time drawn with ``seed``) concerns the user and product of one of
    the :data:`RECENT_CLICKS` latest clicks. A source used up starts again: its event ids
    get ``@<pass>`` and the Taobao times move on by the file's span, so time keeps running.
    """

    def __init__(self, sources: Sources, mix: Mix, seed: int):
        self.sources = sources
        self.rng = random.Random(seed)
        shares = mix.shares()
        self.topics = list(shares)
        self.cum = [sum(list(shares.values())[: i + 1]) for i in range(len(shares))]
        self.span = sources.span
        self.used: Counter[str] = Counter()
        self.recent: list[ClickEvent] = []
        self.clock: float | None = None

    def __iter__(self) -> Iterator[tuple[str, BaseModel]]:
        while True:
            yield self.next()

    def take(self, n: int) -> list[tuple[str, BaseModel]]:
        return [self.next() for _ in range(n)]

    def next(self) -> tuple[str, BaseModel]:
        topic = self.rng.choices(self.topics, cum_weights=self.cum)[0]
        return topic, getattr(self, f"_{topic}")()

    def _draw(self, kind: str, pool: Sequence[Any]) -> tuple[Any, int]:
        """The next event of ``pool`` and its pass number."""
        if not pool:
            raise ValueError(f"no {kind} to draw from")
        passes, row = divmod(self.used[kind], len(pool))
        self.used[kind] += 1
        return pool[row], passes

    def _clicks(self) -> ClickEvent:
        click, passes = self._draw("clicks", self.sources.clicks)
        self.clock = click.ts + passes * self.span
        click = click.model_copy(update={"event_id": _id(click, passes), "ts": self.clock})
        if len(self.recent) < RECENT_CLICKS:
            self.recent.append(click)
        else:
            self.recent[self.used["clicks"] % RECENT_CLICKS] = click
        return click

    def _sales(self) -> SaleEvent:
        sale, passes = self._draw("sales", self.sources.sales)
        ts = self.clock if self.clock is not None else sale.ts + passes * self.span
        return sale.model_copy(update={"event_id": _id(sale, passes), "ts": ts})

    def _anchor(self) -> ClickEvent:
        """The click a review or product update is about: a recent one; without clicks in
        the stream, the next one of the file (so event time still runs forward)."""
        if self.recent:
            return self.recent[self.rng.randrange(len(self.recent))]
        click, _ = self._draw("anchors", self.sources.clicks)
        return click

    def _reviews(self) -> ReviewEvent:
        review, passes = self._draw("reviews", self.sources.reviews)
        click = self._anchor()
        about: dict[str, Any] = {"user_id": click.user_id, "product_id": click.product_id}
        about |= {"category_id": click.category_id, "ts": self.clock or click.ts}
        return review.model_copy(update={"event_id": _id(review, passes), **about})

    def _products(self) -> ProductEvent:
        self.used["products"] += 1
        click, rng = self._anchor(), self.rng
        return ProductEvent(
            event_id=f"product:{self.used['products']}",
            ts=self.clock or click.ts,
            product_id=click.product_id,
            category_id=click.category_id,
            price=round(rng.uniform(1.0, 500.0), 2),
            stock=rng.randint(0, 200),
            lead_time_days=float(rng.choice((1, 2, 3, 5, 7, 14))),
        )


def _id(event: BaseModel, passes: int) -> str:
    eid = str(getattr(event, "event_id"))  # noqa: B009 - every input event has one
    return f"{eid}@{passes}" if passes else eid


def payloads(pairs: Iterable[tuple[str, BaseModel]]) -> Iterator[Payload]:
    """What the producer sends: keyed by product id, as Pulse expects."""
    for topic, event in pairs:
        key = str(getattr(event, "product_id")).encode()  # noqa: B009
        yield topic, key, encode(event), str(getattr(event, "event_id"))  # noqa: B009


# -- figures ------------------------------------------------------------------------------


def quantiles(values: Iterable[float], qs: Sequence[float] = QUANTILES) -> dict[str, float]:
    """``{"p50": ..., ...}`` by linear interpolation between ranks (NaN when empty).

    >>> quantiles([4.0, 1.0, 3.0, 2.0], (0.5, 1.0))
    {'p50': 2.5, 'p100': 4.0}
    """
    s = sorted(values)
    out: dict[str, float] = {}
    for q in qs:
        name = f"p{q * 100:g}"
        if not s:
            out[name] = math.nan
            continue
        pos = (len(s) - 1) * q
        lo = math.floor(pos)
        hi = min(lo + 1, len(s) - 1)
        out[name] = s[lo] + (s[hi] - s[lo]) * (pos - lo)
    return out


def match_latencies(
    stamps: Mapping[str, float], outputs: Iterable[tuple[str | None, float]]
) -> tuple[list[float], int]:
    """Seconds from each named event's publication to its output; outputs naming no event
    of ``stamps`` (a tick, another run) are counted, not timed.

    >>> match_latencies({"e1": 10.0}, [("e1", 10.25), ("tick:p:1", 11.0), (None, 12.0)])
    ([0.25], 2)
    """
    outputs = list(outputs)
    latencies = [at - sent for sent, at in _matched(stamps, outputs)]
    return latencies, len(outputs) - len(latencies)


def _matched(
    stamps: Mapping[str, float], outputs: Iterable[tuple[str | None, float]]
) -> Iterator[tuple[float, float]]:
    """``(published, output)`` times of the outputs that name an event of ``stamps``."""
    for event_id, at in outputs:
        sent = stamps.get(event_id) if event_id is not None else None
        if sent is not None:
            yield sent, at


def slowest_seconds(
    stamps: Mapping[str, float], outputs: Iterable[tuple[str | None, float]], n: int = 5
) -> list[dict[str, float]]:
    """The ``n`` one-second windows of publication with the slowest worst event, slowest
    first: when in the run (s after the first event timed), how many events, their worst
    and median latency. Ticks, snapshots and collections show as the same few seconds.

    >>> slowest_seconds({"a": 0.1, "b": 0.2, "c": 5.5}, [("a", 0.2), ("b", 0.6), ("c", 5.6)], 1)
    [{'at_s': 0.0, 'events': 2.0, 'max_s': 0.4, 'p50_s': 0.25}]
    """
    by_second = _by_window(stamps, outputs, 1.0)
    worst = sorted(by_second.items(), key=lambda kv: -max(kv[1]))[:n]
    return [
        {
            "at_s": float(second),
            "events": float(len(lat)),
            "max_s": round(max(lat), 6),
            "p50_s": round(quantiles(lat, (0.5,))["p50"], 6),
        }
        for second, lat in worst
    ]


def medians_by_window(
    stamps: Mapping[str, float], outputs: Iterable[tuple[str | None, float]], width: float = 10.0
) -> list[float]:
    """The median latency of the events published in each ``width`` seconds of the run, in
    order (a window without events gives 0.0): whether the worker keeps pace all along or
    falls behind as its state grows, which one p99 over the run does not tell.

    >>> medians_by_window({"a": 0.0, "b": 1.0, "c": 12.0}, [("a", 0.1), ("b", 1.3), ("c", 13.0)])
    [0.2, 1.0]
    """
    by_window = _by_window(stamps, outputs, width)
    last = max(by_window, default=-1)
    return [
        round(quantiles(by_window[w], (0.5,))["p50"], 6) if by_window.get(w) else 0.0
        for w in range(last + 1)
    ]


def _by_window(
    stamps: Mapping[str, float], outputs: Iterable[tuple[str | None, float]], width: float
) -> dict[int, list[float]]:
    """Latencies of the matched outputs by ``width``-second window of publication (0: the
    first ``width`` seconds after the first event timed)."""
    start = min(stamps.values(), default=0.0)
    by_window: defaultdict[int, list[float]] = defaultdict(list)
    for sent, at in _matched(stamps, outputs):
        by_window[int((sent - start) // width)].append(at - sent)
    return by_window


def histogram_buckets(texts: Iterable[str], name: str) -> dict[float, float]:
    """Cumulative ``le -> count`` of histogram ``name``, summed over labels and texts."""
    buckets: defaultdict[float, float] = defaultdict(float)
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == f"{name}_bucket":
                    buckets[float(sample.labels["le"])] += sample.value
    return dict(buckets)


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float:
    """Prometheus' ``histogram_quantile`` over cumulative buckets (linear within a bucket).

    >>> histogram_quantile(0.5, {0.1: 0.0, 0.2: 10.0, float("inf"): 10.0})
    0.15000000000000002
    >>> histogram_quantile(0.99, {0.1: 5.0, float("inf"): 10.0})
    0.1
    """
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return math.nan
    rank, lower, below = q * total, 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return lower  # beyond the largest finite bound: all that can be said
            return lower + (le - lower) * ((rank - below) / (count - below) if count > below else 1)
        lower, below = le, count
    return lower


def histogram_delta(
    before: Mapping[float, float], after: Mapping[float, float]
) -> dict[float, float]:
    return {le: after[le] - before.get(le, 0.0) for le in after}


# -- the workers --------------------------------------------------------------------------


def proc_status_mb(pid: int, field_name: str) -> float:
    """A ``/proc/<pid>/status`` memory field (``VmRSS``, ``VmHWM``), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Workers:
    """``--workers`` Pulse worker processes in one consumer group; stopped on exit."""

    def __init__(self, bootstrap: str, prefix: str, folder: Path, env: dict[str, str], n: int):
        self.procs = [WorkerProcess(bootstrap, prefix, folder / f"w{i}", env) for i in range(n)]

    def __enter__(self) -> Workers:
        started = time.monotonic()
        with ThreadPoolExecutor(len(self.procs)) as pool:  # together: one rebalance
            list(pool.map(lambda w: w.start(ready_timeout=120), self.procs))
        self.ready_s = time.monotonic() - started
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.procs:
            worker.stop()

    def pids(self) -> list[int]:
        pids = []
        for w in self.procs:
            if w.proc is None or w.proc.poll() is not None:
                raise RuntimeError(f"a worker died:\n{w.log_tail()}")
            pids.append(w.proc.pid)
        return pids

    def texts(self) -> list[str]:
        return [_metrics_text(w) for w in self.procs]

    def errors(self, n: int = 5) -> str:
        """The last ``n`` ERROR lines of each worker's log."""
        lines = []
        for w in self.procs:
            log = w.folder / "worker.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            lines += [line[:300] for line in text.splitlines() if "ERROR" in line][-n:]
        return "\n".join(lines)

    def family(self) -> list[int]:
        """The workers' pids and those of their models processes (PULSE_MODELS_PROCESS):
        a worker's CPU and memory are its own and its models process's."""
        pids = self.pids()
        return pids + [c for p in pids for c in models_children(p)]

    def cpu_seconds(self) -> float:
        return sum(proc_cpu_seconds(p) for p in self.family())

    def rss_mb(self, field_name: str = "VmRSS") -> float:
        return sum(proc_status_mb(p, field_name) for p in self.family())


def models_children(pid: int) -> list[int]:
    """The children of ``pid`` that are models processes (never its snapshot forks)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = []
    for child in children.read_text().split() if children.exists() else []:
        with contextlib.suppress(OSError):
            if b"streams.models_process" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


def _metrics_text(worker: WorkerProcess, tries: int = 5) -> str:
    """A worker's /metrics; a busy worker may miss an answer."""
    for _ in range(tries - 1):
        try:
            return worker.metrics_text()
        except OSError:
            time.sleep(1.0)
    return worker.metrics_text()


def counts(texts: Iterable[str]) -> Counter[tuple[str, str]]:
    total: Counter[tuple[str, str]] = Counter()
    for text in texts:
        total.update(event_counts(text))
    return total


def by(counted: Mapping[tuple[str, str], float], index: int) -> dict[str, float]:
    """Counts by topic (``index`` 0) or outcome (1)."""
    out: defaultdict[str, float] = defaultdict(float)
    for key, n in counted.items():
        out[key[index]] += n
    return dict(out)


@dataclass
class Drain:
    """A backlog consumed by the workers, from ready until all counted."""

    counted: float
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    hwm_mb: float
    by_topic: dict[str, float]
    outcomes: dict[str, float]
    replica_catch_up_s: float | None = None

    @property
    def per_s(self) -> float:
        return self.counted / self.seconds

    def topic_rates(self) -> dict[str, float]:
        return {t: n / self.seconds for t, n in sorted(self.by_topic.items())}


def drain(workers: Workers, total: int, timeout: float, every: float = 0.2) -> Drain:
    """Poll /metrics until ``total`` input events are counted (events counted before the
    clock started are left out of the rate); CPU and resident memory meanwhile."""
    started, cpu0 = time.monotonic(), workers.cpu_seconds()
    first = counts(workers.texts())
    peak, now = workers.rss_mb(), first
    while sum(now.values()) < total:
        if time.monotonic() - started > timeout:
            seen = f"{sum(now.values()):.0f} of {total} events in {timeout:.0f} s"
            raise TimeoutError(f"{seen}; worker errors:\n{workers.errors() or 'none logged'}")
        time.sleep(every)
        now = counts(workers.texts())
        peak = max(peak, workers.rss_mb())
    seconds = time.monotonic() - started
    return Drain(
        counted=sum(now.values()) - sum(first.values()),
        seconds=seconds,
        cpu_seconds=workers.cpu_seconds() - cpu0,
        peak_rss_mb=peak,
        hwm_mb=workers.rss_mb("VmHWM"),
        by_topic=by(Counter(now) - Counter(first), 0),
        outcomes=by(now, 1),
    )


def replica_catch_up(workers: Workers, processed: float, timeout: float) -> float | None:
    """Seconds until every worker's feedback replica has applied ``processed`` records,
    and its models process (if any) has reached the replica's offset."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        texts = workers.texts()
        applied = [metric_sum(t, "pulse_feedback_applied_total") for t in texts]
        behind = [
            metric_sum(t, "pulse_feedback_offset") - metric_sum(t, "pulse_models_feedback_offset")
            for t in texts
            if "pulse_models_feedback_offset " in t
        ]
        if min(applied) >= processed and max(behind, default=0) <= 0:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


# -- producing and following --------------------------------------------------------------


async def produce(
    settings: Settings,
    bootstrap: str,
    items: Iterable[Payload],
    rate: float | None = None,
    seconds: float | None = None,
    stamps: dict[str, float] | None = None,
) -> int:
    """Send ``items`` (at ``rate``/s, for at most ``seconds``), each stamped with the wall
    clock as its Kafka timestamp (kept in ``stamps``); returns how many were acknowledged."""
    producer = await start_producer(bootstrap, settings)
    pacer, pending, sent = Pacer(rate), [], 0
    deadline = time.monotonic() + seconds if seconds is not None else math.inf
    try:
        for topic, key, value, event_id in items:
            if time.monotonic() >= deadline:
                break
            ms = int(time.time() * 1000)
            if stamps is not None:
                stamps[event_id] = ms / 1000
            pending.append(
                await producer.send(settings.topic(topic), value, key=key, timestamp_ms=ms)
            )
            if len(pending) >= 1000:
                sent += len(await asyncio.gather(*pending))
                pending.clear()
            await pacer.tick()
        sent += len(await asyncio.gather(*pending))
    finally:
        await producer.stop()
    return sent


@dataclass
class Follower:
    """Reads the decisions and feedback topics from the start: what each output names and
    its Kafka timestamp (when the worker's producer sent it)."""

    bootstrap: str
    settings: Settings
    decisions: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    feedback: list[tuple[str, float]] = field(default_factory=list)

    async def run(self) -> None:
        decisions = self.settings.topic(DECISIONS)
        consumer = AIOKafkaConsumer(
            decisions,
            self.settings.topic(FEEDBACK),
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        try:
            while True:
                for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                    for r in records:
                        if tp.topic == decisions:
                            self.decisions.append((orjson.loads(r.value), r.timestamp / 1000))
                        else:
                            self.feedback.append((r.key.decode(), r.timestamp / 1000))
        finally:
            await consumer.stop()


# -- phases -------------------------------------------------------------------------------


@dataclass
class Context:
    """What every phase shares: options, broker, worker environment, figures so far."""

    args: argparse.Namespace
    bootstrap: str
    folder: Path
    env: dict[str, str]
    figures: dict[str, Any] = field(default_factory=dict)

    def settings(self, phase: str) -> Settings:
        return load_settings({**os.environ, **self.env}, topic_prefix=f"e2e-{phase}.")

    def workers(self, phase: str) -> Workers:
        prefix = f"e2e-{phase}."
        return Workers(self.bootstrap, prefix, self.folder / phase, self.env, self.args.workers)


def backlog(ctx: Context, phase: str, items: list[Payload], baselines: bool) -> dict[str, Any]:
    """Publish ``items``, run the baselines, then time the workers on them."""
    settings = ctx.settings(phase)
    asyncio.run(ensure_topics(settings, ctx.bootstrap))
    started = time.perf_counter()
    total = asyncio.run(produce(settings, ctx.bootstrap, items))
    out: dict[str, Any] = {
        "events": total,
        "produce_per_s": total / (time.perf_counter() - started),
    }
    topics = [settings.topic(t) for t in INPUTS]
    if baselines and not ctx.args.skip_bare:
        from bench.replay import bare_consume

        out["bare_per_s"] = total / asyncio.run(bare_consume(ctx.bootstrap, topics, total))
    if baselines and not ctx.args.skip_faust:
        out["faust"] = faust_floor(ctx, phase, topics, total)
    with ctx.workers(phase) as workers:
        done = drain(workers, total, timeout=60 + total / 50)
        processed = done.outcomes.get("processed", 0.0)
        done.replica_catch_up_s = replica_catch_up(workers, processed, timeout=60)
        texts = workers.texts()
        decisions = sum(metric_sum(t, "pulse_rules_decisions_total") for t in texts)
        batches = sum(metric_sum(t, "pulse_stream_batch_size_events_count") for t in texts)
        busy = sum(metric_sum(t, "pulse_stream_batch_duration_seconds_sum") for t in texts)
        out |= {"ready_s": workers.ready_s, "provider": provider(texts[0]), "decisions": decisions}
        out |= {"batches": batches, "batch_seconds": busy}
    out |= asdict(done) | {"per_s": done.per_s, "topic_per_s": done.topic_rates()}
    if "bare_per_s" in out:
        out["worker_over_bare"] = done.per_s / out["bare_per_s"]
    if "faust" in out:
        out["worker_over_faust"] = done.per_s / out["faust"]["per_s"]
    return out


def provider(metrics_text: str) -> str | None:
    """The ONNX Runtime provider the worker's sentiment model really runs on."""
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "pulse_sentiment_provider_info" and sample.value == 1:
                return str(sample.labels["provider"])
    return None


def faust_floor(ctx: Context, phase: str, topics: list[str], total: int) -> dict[str, Any]:
    """Run ``bench/faust_floor.py`` on ``topics`` until it has seen ``total`` events."""
    app_id = f"e2e-{phase}-faust"
    result, log = ctx.folder / f"{app_id}.json", ctx.folder / f"{app_id}.log"
    cmd = [sys.executable, str(BENCH / "faust_floor.py"), "--bootstrap", ctx.bootstrap]
    cmd += ["--topics", ",".join(topics), "--expected", str(total), "--app-id", app_id]
    cmd += ["--data-dir", str(ctx.folder / app_id), "--result", str(result)]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120 + total / 500
    try:
        while not result.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"the Faust floor did not finish ({proc.returncode}):\n{tail}")
            time.sleep(0.2)
    finally:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    figures: dict[str, Any] = json.loads(result.read_text())
    return figures


def reviews_phase(ctx: Context, sources: Sources) -> dict[str, Any]:
    """Reviews only: the worker against the bare sentiment engine on the same texts."""
    pairs = MixedStream(sources, Mix.parse("reviews=1"), ctx.args.seed).take(ctx.args.review_events)
    texts = [str(getattr(e, "text")) for _, e in pairs]  # noqa: B009
    settings = ctx.settings("reviews")
    batch = settings.batch_size
    engine_per_s = len(texts) / engine_seconds(settings, texts, batch)
    out = backlog(ctx, "reviews", list(payloads(pairs)), baselines=False)
    return out | {
        "batch_size": batch,
        "engine_per_s": engine_per_s,
        "worker_over_engine": out["per_s"] / engine_per_s,
    }


def engine_seconds(settings: Settings, texts: list[str], batch: int) -> float:
    """Seconds the workers' sentiment model alone (their ``PULSE_SENTIMENT_MODEL``, providers
    and threads; a router picks per text as in a worker) takes on ``texts``, ``batch`` at a
    time."""
    from prometheus_client import CollectorRegistry

    from streams.metrics import Metrics
    from streams.sentiment import LiveModel

    model = LiveModel.start(settings, Metrics(CollectorRegistry()))
    model(texts[:batch])  # a first call pays for lazy set-up; not the worker's steady cost
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        model(texts[i : i + batch])
    return time.perf_counter() - started


def latency_phase(ctx: Context, sources: Sources, mix: Mix, rate: float) -> dict[str, Any]:
    """The mixed stream at ``rate`` for ``--seconds``: latencies to outputs and to state."""
    settings = ctx.settings("latency")
    asyncio.run(ensure_topics(settings, ctx.bootstrap))
    stream = payloads(MixedStream(sources, mix, ctx.args.seed))
    with ctx.workers("latency") as workers:
        before = histogram_buckets(workers.texts(), LATENCY)
        follower, stamps = Follower(ctx.bootstrap, settings), dict[str, float]()
        sent, seconds = asyncio.run(paced(ctx, settings, stream, rate, follower, stamps, workers))
        texts = workers.texts()
        after = histogram_buckets(texts, LATENCY)
        waits = histogram_buckets(texts, FACTS_WAIT)
        asked = {
            "n": sum(metric_sum(t, f"{FACTS_WAIT}_count") for t in texts),
            "seconds": sum(metric_sum(t, f"{FACTS_WAIT}_sum") for t in texts),
            "p99": histogram_quantile(0.99, waits),
            "fallbacks": sum(metric_sum(t, "pulse_models_fallbacks_total") for t in texts),
        }
    # events sent in the first --warmup seconds load a fresh worker but are not measured
    after_warmup = min(stamps.values(), default=0.0) + ctx.args.warmup
    measured = {event_id: at for event_id, at in stamps.items() if at >= after_warmup}
    applied, _ = match_latencies(measured, follower.feedback)
    triggers = [(d.get("trigger_event_id"), at) for d, at in follower.decisions]
    triggers = [
        (event_id, at)
        for event_id, at in triggers
        if event_id not in stamps or event_id in measured
    ]
    decisions, unmatched = match_latencies(measured, triggers)
    warm = set(stamps) - set(measured)
    decided = Counter(
        str(d.get("rule_id"))
        for d, _ in follower.decisions
        if d.get("trigger_event_id") not in warm
    )
    state = histogram_delta(before, after)
    return {
        "target_rate": rate,
        "sent": sent,
        "sent_per_s": sent / seconds,
        "applied": {"n": len(applied), **quantiles(applied)},
        "state_histogram": {f"p{q * 100:g}": histogram_quantile(q, state) for q in QUANTILES},
        "decisions": {"n": len(decisions), "unmatched": unmatched, **quantiles(decisions)},
        "decisions_by_rule": dict(decided.most_common()),
        "slowest_seconds": slowest_seconds(measured, follower.feedback),
        "feedback_p50_by_10s": medians_by_window(measured, follower.feedback),
        "models_facts": asked,
    }


async def paced(
    ctx: Context,
    settings: Settings,
    stream: Iterable[Payload],
    rate: float,
    follower: Follower,
    stamps: dict[str, float],
    workers: Workers,
) -> tuple[int, float]:
    """Produce at ``rate`` while following the outputs; then wait for the workers to count
    everything and the follower to read every feedback record they wrote."""
    task = asyncio.create_task(follower.run())
    try:
        started = time.monotonic()
        length = ctx.args.warmup + ctx.args.seconds
        sent = await produce(settings, ctx.bootstrap, stream, rate, length, stamps)
        seconds = time.monotonic() - started
        done = await asyncio.to_thread(drain, workers, sent, 60 + sent / 50)
        processed = done.outcomes.get("processed", 0.0)
        deadline = time.monotonic() + 30
        while len(follower.feedback) < processed and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # decisions of the last batch
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return sent, seconds


# -- report -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import onnxruntime as ort

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": model,
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "ort_providers": ort.get_available_providers(),
        "load_average": os.getloadavg(),
    }


Row = tuple[str, str, str, str]


def backlog_rows(name: str, f: dict[str, Any]) -> list[Row]:
    """The table rows of a backlog phase: rate, baselines, cost."""
    outcomes = ", ".join(f"{o} {n:,.0f}" for o, n in f["outcomes"].items())
    topics = ", ".join(f"{t} {r:,.0f}" for t, r in f["topic_per_s"].items())
    cpu = f"{f['cpu_seconds']:.1f} s CPU in {f['seconds']:.1f} s"
    batches = max(f.get("batches", 0.0), 1.0)
    busy = f"{f.get('batches', 0):,.0f} batches, {f.get('batch_seconds', 0.0):.1f} s in them"
    done = f"{f['events']:,}: {outcomes}; {f['decisions']:,.0f} decisions"
    rows = [(name, "events/s (worker)", f"{f['per_s']:,.0f}", done)]
    if "bare_per_s" in f:
        bare = f"bare consumer {f['bare_per_s']:,.0f}/s"
        rows.append(("", "worker / bare consumer", f"{f['worker_over_bare']:.4f}", bare))
    if "faust" in f:
        faust = f"Faust floor {f['faust']['per_s']:,.0f}/s; target >= 4"
        rows.append(("", "worker / Faust floor", f"{f['worker_over_faust']:.2f}", faust))
    return rows + [
        ("", "events/s by topic", "", topics),
        ("", "CPU s per 1,000 events", f"{1000 * f['cpu_seconds'] / f['counted']:.2f}", cpu),
        ("", "peak RSS MB", f"{f['peak_rss_mb']:,.0f}", f"VmHWM {f['hwm_mb']:,.0f}"),
        ("", "ready s", f"{f['ready_s']:.1f}", f"replica caught up {_seconds(f)}"),
        ("", "events per batch", f"{f['outcomes'].get('processed', 0) / batches:,.0f}", busy),
    ]


def _seconds(f: dict[str, Any]) -> str:
    catch = f["replica_catch_up_s"]
    return "not within 60 s" if catch is None else f"{catch:.1f} s after"


def reviews_rows(f: dict[str, Any]) -> list[Row]:
    engine = f"engine {f['engine_per_s']:,.0f}/s, batch {f['batch_size']}; target >= 0.85"
    return [
        ("reviews", "reviews/s (worker)", f"{f['per_s']:,.0f}", f"provider {f['provider']}"),
        ("", "worker / sentiment engine", f"{f['worker_over_engine']:.3f}", engine),
        *backlog_rows("reviews", f)[2:],
    ]


def latency_rows(f: dict[str, Any]) -> list[Row]:
    def ms(q: Mapping[str, float]) -> str:
        return " / ".join(f"{1000 * q[f'p{x * 100:g}']:,.0f}" for x in QUANTILES)

    a, d = f["applied"], f["decisions"]
    rules = ", ".join(f"{r} {n}" for r, n in f["decisions_by_rule"].items()) or "none"
    return [
        ("latency", "events/s sent", f"{f['sent_per_s']:,.0f}", f"target {f['target_rate']:,.0f}"),
        ("", "ms p50/p95/p99 to feedback", ms(a), f"{a['n']:,} events"),
        ("", "ms p50/p95/p99 to state", ms(f["state_histogram"]), "worker's histogram"),
        ("", "ms p50/p95/p99 to decision", ms(d), f"{d['n']:,} decisions: {rules}"),
        ("", "slowest seconds to feedback", "", _slowest(f.get("slowest_seconds", []))),
        ("", "ms p50 to feedback by 10 s", "", _series(f.get("feedback_p50_by_10s", []))),
        *_asked(f.get("models_facts")),
    ]


def _asked(asked: dict[str, float] | None) -> list[Row]:
    """The rules' waits for recommendations from the models process (none without one)."""
    if not asked or not asked["n"]:
        return []
    waited = f"{1000 * asked['seconds']:,.0f} ms in all, p99 {1000 * asked['p99']:,.1f} ms"
    detail = f"{waited}; {asked['fallbacks']:,.0f} answered by popularity"
    return [("", "facts asked of the models process", f"{asked['n']:,.0f}", detail)]


def _series(medians: list[float]) -> str:
    return " ".join(f"{1000 * m:,.0f}" for m in medians)


def _slowest(worst: list[dict[str, float]]) -> str:
    return "; ".join(
        f"{w['at_s']:.0f} s: max {1000 * w['max_s']:,.0f} ms (p50 {1000 * w['p50_s']:,.0f})"
        for w in worst
    )


def table(figures: dict[str, Any], header: bool = True) -> str:
    rows: list[Row] = [("phase", "figure", "value", "baseline, target, detail")] if header else []
    for name in ("clicks+sales", "mixed"):
        if name in figures:
            rows += backlog_rows(name, figures[name])
    if "reviews" in figures:
        rows += reviews_rows(figures["reviews"])
    if "latency" in figures:
        rows += latency_rows(figures["latency"])
    return "\n".join(f"{a:13} {b:27} {c:>19}  {d}".rstrip() for a, b, c, d in rows)


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--events", type=int, default=200_000, help="backlog of phases 1 and 2")
    p.add_argument("--review-events", type=int, default=5_000, help="backlog of phase 3")
    p.add_argument("--rate", type=float, default=None, help="phase 4; default: half of phase 2")
    p.add_argument(
        "--seconds",
        type=float,
        default=90.0,
        help="phase 4's measured length (long enough to hold a tick, every 60 s by default)",
    )
    p.add_argument(
        "--warmup", type=float, default=5.0, help="phase 4: seconds sent first, not measured"
    )
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--mix", type=Mix.parse, default=Mix(), help="clicks=0.9,sales=0.03,...")
    p.add_argument("--zh-share", type=float, default=0.2, help="share of Chinese reviews")
    for phase in ("clicks-sales", "mixed", "reviews", "latency", "bare", "faust"):
        p.add_argument(f"--skip-{phase}", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the workers")
    args = p.parse_args(argv)
    if args.skip_mixed and args.rate is None and not args.skip_latency:
        p.error("--skip-mixed needs --rate (the latency phase's default is half of phase 2)")
    return args


def run(ctx: Context, sources: Sources) -> None:
    """Every phase not skipped, in order; each prints its rows when done."""
    args, mix = ctx.args, ctx.args.mix

    def stream(shares: Mix) -> list[Payload]:
        return list(payloads(MixedStream(sources, shares, args.seed).take(args.events)))

    def half_mixed() -> float:
        return float(args.rate or ctx.figures["mixed"]["per_s"] / 2)

    phases = {
        "clicks+sales": lambda: backlog(
            ctx, "clicks-sales", stream(mix.only("clicks", "sales")), True
        ),
        "mixed": lambda: backlog(ctx, "mixed", stream(mix), True),
        "reviews": lambda: reviews_phase(ctx, sources),
        "latency": lambda: latency_phase(ctx, sources, mix, half_mixed()),
    }
    for name, measure in phases.items():
        if getattr(args, f"skip_{name.replace('+', '_')}"):
            continue
        started = time.monotonic()
        ctx.figures[name] = measure()
        print(f"# {name}: {time.monotonic() - started:.0f} s", flush=True)
        print(table({name: ctx.figures[name]}, header=False), flush=True)


def main() -> None:
    args = parse_args()
    env = {"PULSE_SENTIMENT_PROVIDERS": "cpu", **dict(e.split("=", 1) for e in args.env)}
    host = machine()
    print(
        f"# Pulse end to end, {time.strftime('%Y-%m-%d %H:%M:%S')}: {host['cores']} cores "
        f"({host['usable_cores']} usable), {host['cpu']}; Python {host['python']}; "
        f"onnxruntime {host['onnxruntime']} {host['ort_providers']}"
    )
    print(f"# load average {host['load_average']}; workers {args.workers}; env {env}")
    sources = load_sources(args.data, args.zh_share, args.seed)
    folder = Path(tempfile.mkdtemp(prefix="pulse-e2e-"))  # kept: the worker logs are there
    print(f"# worker logs under {folder}")
    with EmbeddedBroker() as broker:
        ctx = Context(args, broker.bootstrap, folder, env, {"machine": host})
        run(ctx, sources)
    ctx.figures["load_average_end"] = os.getloadavg()
    print(f"\n# load average at the end {ctx.figures['load_average_end']}")
    print(table(ctx.figures))
    if args.json:
        args.json.write_text(json.dumps(ctx.figures, indent=2, default=str))
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
