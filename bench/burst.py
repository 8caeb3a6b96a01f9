"""Backpressure: one worker under a burst of 10x its sustainable rate, with the accounting after.

    .venv/bin/python bench/burst.py [--burst-seconds 25] [--steady-seconds 60]

Steps: start the embedded broker and one `pulse worker`; publish a realistic mixed stream
(Taobao clicks and sales, every tenth event an Amazon review, stamped with the wall clock
as they are sent) flat out to find the worker's sustainable rate (events/s consumed while
a backlog waits); then a steady load at half of it, a burst at 10x the sustainable rate
(flat out, and said so, when the producer cannot reach that), steady again until the
backlog has drained, and stop. Every 2 s a timeline row: published/s, consumed/s, lag
(``pulse_stream_consumer_lag_messages`` from the worker, committed vs end offsets; and the
backlog, published minus consumed), worker RSS (``VmRSS``). Then the summary (peak lag,
time to drain, peak RSS vs before the burst) and the delivery checker's verdict over
everything published: 0 lost, 0 doubled, or the problems.

Events cycle through the two files; from the second pass on, an event id gets ``@<pass>``
so every event is new to Pulse. The pieces here (the stream, the probe, phases) are
shared with ``bench/soak.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

# Run as a script, this file's folder comes first on sys.path and bench/rules.py would hide
# the rules package: the repository root goes there instead (bench/soak.py imports this).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from streams.accounting import Observer, Report, expect, wait_for_delivery  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.live import event_counts, metric_sum  # noqa: E402
from streams.procs import WorkerProcess  # noqa: E402
from streams.producing import Item, publish  # noqa: E402
from streams.replay import read_dataset  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TAOBAO = DATA / "ecom_taobao_userbehavior_sample" / "UserBehavior_sample.csv"
REVIEWS = DATA / "en_amazon_multidomain_sentiment" / "multidomain_sentiment_labeled.csv.gz"
#: One event in REVIEW_EVERY is a review.
REVIEW_EVERY = 10
PREFIX = "bench."
LAG = "pulse_stream_consumer_lag_messages"


class MixedStream:
    """Taobao events with every tenth an Amazon review, endless, ids unique per pass.

    ``stamps`` keeps the time each item was stamped with, so :meth:`ledger` rebuilds
    exactly what was sent without holding it.
    """

    def __init__(
        self,
        taobao: Path = TAOBAO,
        reviews: Path = REVIEWS,
        clock: Callable[[], float] = time.time,
    ):
        #: Event time of an item sent now (the wall clock, or a faster one: ``bench/soak.py``).
        self.clock = clock
        pairs = list(read_dataset(taobao))
        self.kinds = [t for t, _ in pairs]
        self.taobao = [e for _, e in pairs]
        self.reviews = [e for _, e in read_dataset(reviews)]
        self.stamps = array("d")

    @property
    def one_pass(self) -> int:
        """Items until every Taobao event has been sent once (every product and user seen)."""
        return len(self.taobao) * REVIEW_EVERY // (REVIEW_EVERY - 1)

    def item(self, i: int, ts: float) -> Item:
        n_reviews = (i + 1) // REVIEW_EVERY
        if (i + 1) % REVIEW_EVERY == 0:
            k = n_reviews - 1
            return "reviews", _pass(self.reviews[k % len(self.reviews)], k // len(self.reviews), ts)
        m = i - n_reviews
        topic = self.kinds[m % len(self.taobao)]
        return topic, _pass(self.taobao[m % len(self.taobao)], m // len(self.taobao), ts)

    def live(self, seconds: float | None = None, count: int | None = None) -> Iterator[Item]:
        """Next items, stamped with :attr:`clock`, for ``seconds`` of wall time or ``count``
        items."""
        until = time.monotonic() + seconds if seconds is not None else float("inf")
        sent = 0
        while time.monotonic() < until and (count is None or sent < count):
            now = self.clock()
            self.stamps.append(now)
            sent += 1
            yield self.item(len(self.stamps) - 1, now)

    def ledger(self) -> Iterator[Item]:
        """Every item sent so far, in order, as it was sent."""
        for i, ts in enumerate(self.stamps):
            yield self.item(i, ts)


def _pass(event: BaseModel, n: int, ts: float) -> BaseModel:
    eid = getattr(event, "event_id")  # noqa: B009 - every input event has one
    return event.model_copy(update={"event_id": f"{eid}@{n}" if n else eid, "ts": ts})


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` (VmRSS), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Sample:
    t: float
    phase: str
    published: int
    consumed: float
    lag: float
    rss: float

    @property
    def backlog(self) -> float:
        return self.published - self.consumed


@dataclass
class Run:
    """A worker, a stream, a producer thread per phase, and the samples taken."""

    settings: Settings
    bootstrap: str
    worker: WorkerProcess
    stream: MixedStream
    started: float = field(default_factory=time.monotonic)
    published: int = 0
    samples: list[Sample] = field(default_factory=list)
    acked: int = 0

    def sample(self, phase: str) -> Sample:
        assert self.worker.proc is not None
        if self.worker.proc.poll() is not None:
            raise RuntimeError(f"the worker died:\n{self.worker.log_tail()}")
        text = self._metrics()
        consumed = sum(event_counts(text).values())
        s = Sample(
            time.monotonic() - self.started,
            phase,
            self.published,
            consumed,
            metric_sum(text, LAG),
            rss_mb(self.worker.proc.pid),
        )
        self.samples.append(s)
        return s

    def _metrics(self, tries: int = 10) -> str:
        """The worker's /metrics text; a busy worker may miss a few answers."""
        for _ in range(tries - 1):
            try:
                return self.worker.metrics_text()
            except OSError as exc:
                print(f"# /metrics: {exc}; retrying", flush=True)
                time.sleep(2.0)
        return self.worker.metrics_text()

    def phase(
        self,
        name: str,
        rate: float | None,
        seconds: float | None = None,
        count: int | None = None,
        every: float = 2.0,
    ) -> list[Sample]:
        """Publish at ``rate`` (None: flat out) for ``seconds`` or ``count`` items; sample."""
        items = self.stream.live(seconds, count)
        thread = threading.Thread(target=self._publish, args=(items, rate), daemon=True)
        first = len(self.samples)
        thread.start()
        while thread.is_alive():
            thread.join(every)
            self.show(self.sample(name))
        return self.samples[first:]

    def drain(self, name: str, timeout: float, every: float = 2.0) -> list[Sample]:
        """Sample until the worker has consumed everything published (or ``timeout``)."""
        first, deadline = len(self.samples), time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(every)
            s = self.sample(name)
            self.show(s)
            if s.consumed >= s.published:
                break
        return self.samples[first:]

    def _publish(self, items: Iterator[Item], rate: float | None) -> None:
        def sent(topic: str, n: int) -> None:
            self.published += n

        self.acked += asyncio.run(publish(self.settings, self.bootstrap, items, rate, sent))

    def show(self, s: Sample) -> None:
        before = self.samples[-2] if len(self.samples) > 1 else None
        dt = s.t - before.t if before else s.t
        pub = (s.published - before.published) / dt if before else 0.0
        con = (s.consumed - before.consumed) / dt if before else 0.0
        print(
            f"{s.t:7.1f} {s.phase:9} {pub:9.0f} {con:9.0f} {s.lag:9.0f} {s.backlog:9.0f}"
            f" {s.rss:8.0f} {os.getloadavg()[0]:7.2f}",
            flush=True,
        )

    async def account(self, timeout: float = 600.0) -> Report:
        expected = expect(self.stream.ledger(), self.settings.max_payload_bytes)
        async with Observer(self.settings, self.bootstrap, [self.worker.url]) as observer:
            return await wait_for_delivery(expected, observer, timeout=timeout)


HEADER = f"{'t s':>7} {'phase':9} {'pub/s':>9} {'cons/s':>9} {'lag':>9} {'backlog':>9} {'RSS MB':>8} {'load1m':>7}"


def sustainable(samples: list[Sample], count: int, tail: float = 0.25) -> float:
    """Events/s consumed while a backlog waited, over the last ``tail`` of ``count`` events.

    The worker slows down as its state fills (more products to rank, more windows to
    tick), so the end of a first pass says what it sustains once warm; the start does not.
    """
    busy = [s for s in samples if s.backlog >= 1_000 and s.consumed >= (1 - tail) * count]
    if len(busy) < 2:
        return 0.0  # too few events to tell
    return (busy[-1].consumed - busy[0].consumed) / (busy[-1].t - busy[0].t)


def find_rate(run: Run, count: int) -> tuple[float, float]:
    """The worker's flat-out rate on ``count`` events published as fast as possible:
    over the whole of them, and over their last quarter (warm)."""
    samples = run.phase("flat-out", None, count=count)
    samples += run.drain("flat-out", timeout=count / 100)
    whole = samples[-1].consumed / (samples[-1].t - samples[0].t)
    return whole, sustainable(samples, count)


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def start(tmp: str, broker: EmbeddedBroker, env: dict[str, str]) -> tuple[Settings, WorkerProcess]:
    settings = Settings(topic_prefix=PREFIX, app_id="bench")
    asyncio.run(ensure_topics(settings, broker.bootstrap))
    worker = WorkerProcess(broker.bootstrap, PREFIX, Path(tmp), env)
    return settings, worker.start(ready_timeout=60)


def burst_summary(
    run: Run, target_rate: float, steady: list[Sample], burst: list[Sample], after: list[Sample]
) -> None:
    end = burst[-1]
    target = end.published
    drained = next((s for s in after if s.consumed >= target), None)
    pub_rate = (end.published - steady[-1].published) / (end.t - steady[-1].t)
    before_rss = max(s.rss for s in steady)
    peak = max(burst + after, key=lambda s: s.rss)
    print(f"burst published          {pub_rate:10.0f} events/s for {end.t - steady[-1].t:.0f} s")
    if pub_rate < 0.9 * target_rate:
        print(f"  (target {target_rate:.0f} events/s: beyond this producer, so it ran flat out)")
    print(f"peak lag (metric)        {max(s.lag for s in burst + after):10.0f} messages")
    print(f"peak backlog             {max(s.backlog for s in burst + after):10.0f} messages")
    if drained:
        print(
            f"drained after burst      {drained.t - end.t:10.1f} s (all published by its end consumed)"
        )
    else:
        print("drained after burst          never within the drain phase")
    print(f"RSS before burst (max)   {before_rss:10.0f} MB")
    print(f"RSS peak                 {peak.rss:10.0f} MB at {peak.t:.0f} s ({peak.phase})")
    print(f"RSS at the end           {run.samples[-1].rss:10.0f} MB")


def stop_on_sigterm() -> None:
    """SIGTERM (``timeout``, ``kill``) unwinds like Ctrl-C, so the worker and broker stop."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main() -> None:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--probe-events", type=int, default=None, help="default: one pass over the files"
    )
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--burst-seconds", type=float, default=20.0)
    parser.add_argument("--factor", type=float, default=10.0)
    parser.add_argument(
        "--rate", type=float, default=None, help="sustainable events/s; default: measured"
    )
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the worker")
    args = parser.parse_args()
    env = dict(e.split("=", 1) for e in args.env)
    stream = MixedStream()
    print(f"load average at start: {load_avg()}; worker env: {env or 'defaults'}")
    tmp = tempfile.mkdtemp(prefix="pulse-bench-")  # kept: the worker log is there
    print(f"worker folder: {tmp}")
    with EmbeddedBroker() as broker:
        settings, worker = start(tmp, broker, env)
        run = Run(settings, broker.bootstrap, worker, stream)
        try:
            print(HEADER)
            whole, warm = find_rate(run, args.probe_events or stream.one_pass)
            print(f"# flat out {whole:.0f} ev/s over the pass, {warm:.0f} over its last quarter")
            rate = args.rate or warm or whole
            steady_rate, burst_rate = rate / 2, rate * args.factor
            print(
                f"# sustainable {rate:.0f} ev/s; steady {steady_rate:.0f}, burst {burst_rate:.0f}"
            )
            steady = run.phase("steady", steady_rate, seconds=args.steady_seconds)
            burst = run.phase("burst", burst_rate, seconds=args.burst_seconds)
            after = run.phase("steady", steady_rate, seconds=args.steady_seconds)
            while after[-1].consumed < burst[-1].published and after[-1].t < args.drain_timeout:
                after += run.phase("steady", steady_rate, seconds=args.steady_seconds)
            after += run.drain("drain", timeout=300)
            print(f"load average after the run: {load_avg()}")
            print(f"flat out, whole pass     {whole:10.0f} events/s")
            print(f"flat out, last quarter   {warm:10.0f} events/s")
            print(f"sustainable (used)       {rate:10.0f} events/s")
            burst_summary(run, burst_rate, steady, burst, after)
            report = asyncio.run(run.account())
        finally:
            worker.stop()
    print(f"published {len(stream.stamps):,}, acknowledged {run.acked:,}")
    print(report.summary())
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
