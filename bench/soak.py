"""Soak: one worker at a steady rate for N minutes; resident memory and lag over time.

    nice -n 5 .venv/bin/python bench/soak.py [--minutes 30] [--rate EV_PER_S | --share 0.6]

Steps: start the embedded broker and one `pulse worker`; publish one pass over the files of
``bench/burst.py``'s mixed stream flat out (it fills the worker's state with every product
and user, and measures the rate it sustains once warm: the pass's last quarter); then
publish at ``--share`` of that rate (or at ``--rate``) for ``--minutes``. Every 30 s a row:
published/s, consumed/s, lag (the worker's ``pulse_stream_consumer_lag_messages``),
backlog (published minus consumed), worker RSS, load average. Then the verdict: RSS
growth after the warm-up (the first ``--warmup`` minutes of the steady phase; target
< 10 %), the lag trend (least-squares slope over the same span; no growth means a slope
near 0), and the delivery checker over everything published (0 lost, 0 doubled).

Every event is new (ids unique per pass over the files), so memory that is *meant* to grow
with distinct events or with event time grows here until its bound, and the soak makes every
such bound fill during the warm-up, so that what is left to grow after it is a leak:

- **Event time runs ``--time-scale`` times faster than the wall clock** (288 by default: a
  day of event time in the 5-minute warm-up). Per-product windows keep a minute bucket for an
  hour and an hour bucket for a day, the rules' dedup and cooldown keys are kept a day
  (``RuleSet.retention_s``, at least 86,400 s), and the dedup memory for
  ``PULSE_DEDUP_HORIZON``: at the wall clock's pace they grow through any 30-minute run (a
  run stamped with the wall clock grew ~9 MB a minute: window buckets, decision keys,
  ~17,000 a minute, and dedup ids, all within their bounds). Event time starts in the past
  (``--time-scale`` times the run's expected length) and ends near now, so no event is
  stamped ahead of the worker's clock. ``--time-scale 1``: the wall clock.
- The dedup horizon (``--dedup-horizon``, default one day of event time; Pulse's default is
  7 days) and the feedback replica's recent ids (``--replica-ids 100000``; Pulse's:
  1,000,000) are shortened; ``--dedup-horizon 0 --replica-ids 0`` keeps Pulse's defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable

from burst import (  # type: ignore[import-not-found]
    HEADER,
    MixedStream,
    Run,
    Sample,
    find_rate,
    load_avg,
    start,
    stop_on_sigterm,
)

from streams.broker import EmbeddedBroker


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(x, y)`` points (0 with fewer than two).

    >>> slope([(0, 1), (1, 3), (2, 5)])
    2.0
    """
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def scaled_clock(scale: float, expected: float) -> Callable[[], float]:
    """Event time running ``scale`` times faster than the wall clock, starting ``scale``
    times ``expected`` s in the past: a run that lasts ``expected`` s ends near now.

    >>> clock = scaled_clock(1.0, 0.0)
    >>> abs(clock() - time.time()) < 1.0
    True
    """
    start = time.time()
    origin = start - scale * expected
    return lambda: origin + scale * (time.time() - start)


def worker_env(args: argparse.Namespace) -> dict[str, str]:
    env = {}
    if args.dedup_horizon:
        env["PULSE_DEDUP_HORIZON"] = str(args.dedup_horizon)
    if args.replica_ids:
        env["PULSE_REPLICA_DEDUP_IDS"] = str(args.replica_ids)
    return env


def verdict(samples: list[Sample], since: float, rate: float) -> None:
    """RSS growth and lag trend after ``since`` s of the steady phase."""
    start_t = samples[0].t
    late = [s for s in samples if s.t - start_t >= since]
    if len(late) < 2:
        print("too short for a verdict: run longer than the warm-up")
        return
    first, last = late[0], late[-1]
    growth = 100 * (last.rss - first.rss) / first.rss
    peak = max(s.rss for s in late)
    lag_slope = slope([(s.t, s.lag) for s in late])
    backlog_slope = slope([(s.t, s.backlog) for s in late])
    print(
        f"steady rate              {rate:10.0f} events/s for {(samples[-1].t - start_t) / 60:.1f} min"
    )
    print(f"RSS after warm-up        {first.rss:10.0f} MB at {(first.t - start_t) / 60:.1f} min")
    print(f"RSS at the end           {last.rss:10.0f} MB ({growth:+.1f} %; target < 10 %)")
    print(f"RSS peak after warm-up   {peak:10.0f} MB")
    print(f"RSS slope after warm-up  {slope([(s.t, s.rss) for s in late]) * 3600:10.1f} MB/h")
    print(
        f"lag after warm-up        {min(s.lag for s in late):.0f}..{max(s.lag for s in late):.0f} messages"
    )
    print(
        f"lag slope                {lag_slope * 60:10.1f} messages/min (backlog {backlog_slope * 60:.1f})"
    )
    print(
        f"verdict                  memory {'OK' if growth < 10 else 'GROWS'}, lag "
        f"{'flat' if lag_slope * 60 < 0.01 * rate else 'GROWS'}"
    )


def main() -> None:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes left out of the verdict")
    parser.add_argument("--rate", type=float, default=None, help="events/s; default: measured")
    parser.add_argument("--share", type=float, default=0.6, help="of the sustainable rate")
    parser.add_argument(
        "--probe-events", type=int, default=None, help="default: one pass over the files"
    )
    parser.add_argument("--every", type=float, default=30.0, help="seconds between rows")
    parser.add_argument(
        "--dedup-horizon", type=float, default=86_400.0, help="s of event time; 0: Pulse's"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=288.0,
        help="event-time s per wall s (1: the wall clock)",
    )
    parser.add_argument("--replica-ids", type=int, default=100_000, help="0: Pulse's")
    args = parser.parse_args()
    env = worker_env(args)
    stream = MixedStream(clock=scaled_clock(args.time_scale, args.minutes * 60 + 600))
    print(
        f"load average at start: {load_avg()}; worker env: {env or 'defaults'}; pid {os.getpid()}; "
        f"event time x{args.time_scale:g}"
    )
    tmp = tempfile.mkdtemp(prefix="pulse-bench-")  # kept: the worker log is there
    print(f"worker folder: {tmp}")
    with EmbeddedBroker() as broker:
        settings, worker = start(tmp, broker, env)
        run = Run(settings, broker.bootstrap, worker, stream)
        try:
            print(HEADER)
            whole, warm = find_rate(run, args.probe_events or stream.one_pass)
            print(f"# flat out {whole:.0f} ev/s over the pass, {warm:.0f} over its last quarter")
            rate = args.rate or args.share * (warm or whole)
            print(f"# steady at {rate:.0f} events/s for {args.minutes:g} min", flush=True)
            samples = run.phase("steady", rate, seconds=args.minutes * 60, every=args.every)
            run.drain("drain", timeout=600, every=5.0)
            print(f"load average at the end: {load_avg()}")
            verdict(samples, args.warmup * 60, rate)
            report = asyncio.run(run.account())
        finally:
            worker.stop()
    print(f"published {len(stream.stamps):,}, acknowledged {run.acked:,}")
    print(report.summary())
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
