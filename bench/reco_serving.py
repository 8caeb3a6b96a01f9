"""Latency of ``/recommendations/{user_id}`` on a live worker holding a large state.

An embedded broker and one worker (default settings: graph and hybrid on); the Taobao
sample copied ``--copies`` times with renamed ids (2: ~117k users, ~94k items) written to
the feedback topic as the input agent writes it; once the worker's replica has applied it
all, ``--queries`` users drawn by traffic are asked for ``k=10`` over HTTP, one request at a
time, with and without ``exclude_categories``. Client-side wall times (HTTP included) and the
worker's own ``pulse_reco_recommend_duration_seconds{caller="view"}`` are printed.

    nice -n 10 .venv/bin/python bench/reco_serving.py
    nice -n 10 .venv/bin/python bench/reco_serving.py --no-replica --snapshot-interval 15
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.reco import TAOBAO, copies, dataset_records  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.metrics import Metrics  # noqa: E402
from streams.procs import WorkerProcess  # noqa: E402
from streams.producing import publish  # noqa: E402
from streams.replica import FeedbackReplica  # noqa: E402
from streams.settings import Settings  # noqa: E402


def percentiles(ms: list[float]) -> str:
    ms = sorted(ms)
    p99 = ms[int(0.99 * len(ms))]
    return f"p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, max {ms[-1]:.2f} ms"


def ask(url: str, users: list[str], query: str) -> list[float]:
    out = []
    for user in users:
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"{url}/recommendations/{user}?{query}", timeout=10) as r:
            body = orjson.loads(r.read())
        out.append((time.perf_counter() - t0) * 1e3)
        assert body["model"] == "hybrid" and len(body["items"]) == 10, body
    return out


def server_side(text: str) -> str:
    """p50 / p99 upper bucket bounds of the view's histogram."""
    buckets = []
    for line in text.splitlines():
        if (
            line.startswith("pulse_reco_recommend_duration_seconds_bucket")
            and 'caller="view"' in line
        ):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1]
    p50 = next(le for le, n in buckets if n >= 0.5 * total)
    p99 = next(le for le, n in buckets if n >= 0.99 * total)
    return f"{int(total):,} view calls: p50 <= {p50 * 1e3:g} ms, p99 <= {p99 * 1e3:g} ms (bucket bounds)"


def replica_rates(base: list[dict[str, Any]], folder: Path) -> None:
    """The worker's whole per-record path (FeedbackReplica.apply) over the Taobao sample,
    with the recommender off, on, and on with every eligible interaction evaluated."""
    values = [orjson.dumps(r) for r in base]
    print("| replica | records/s | per CPU s |\n|---|---|---|")
    for label, env in (
        ("graph, no recommender", {"reco_enabled": False}),
        ("graph + hybrid, no evaluation", {"reco_eval_every": 0}),
        ("graph + hybrid, PULSE_RECO_EVAL_EVERY=100 (default)", {}),
        ("graph + hybrid, PULSE_RECO_EVAL_EVERY=10", {"reco_eval_every": 10}),
    ):
        r = FeedbackReplica(Settings(data_dir=folder, **env), "-:1", Metrics(CollectorRegistry()))
        t0, c0 = time.perf_counter(), time.process_time()
        for offset, value in enumerate(values):
            r.apply(value, offset)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"| {label} | {len(values) / wall:,.0f} | {len(values) / cpu:,.0f} |")
    users = sorted({str(r["event"].get("user_id")) for r in base})[:2000]
    cpu_ms = []
    for user in users:  # the rules' fact, each a cache miss (a user's first event in 5 s)
        c0 = time.thread_time()
        r.top_items(user, 5)
        cpu_ms.append((time.thread_time() - c0) * 1e3)
    print(
        f"\nuser_top_recommendations fact, cache miss, {len(users):,} users: CPU {percentiles(cpu_ms)}\n"
    )


def rss(worker: WorkerProcess) -> float:
    """The worker's resident memory, MiB."""
    assert worker.proc is not None
    status = Path(f"/proc/{worker.proc.pid}/status").read_text()
    return int(next(x.split()[1] for x in status.splitlines() if x.startswith("VmRSS"))) / 1024


def snapshot_figures(worker: WorkerProcess, end: int) -> None:
    """The worker's resident memory, and its last recommender snapshot of the whole log."""
    deadline = time.monotonic() + 120
    while worker.get("/reco/stats")["snapshot"]["offset"] != end:
        assert time.monotonic() < deadline, "no snapshot of the whole log"
        time.sleep(1)
    text = worker.metrics_text()
    figures = {}
    for line in text.splitlines():
        if line.startswith(("pulse_reco_snapshot_", "pulse_graph_snapshot_")):
            name, value = line.rsplit(" ", 1)
            figures[name] = float(value)
    print(f"worker RSS {rss(worker):,.0f} MiB (graph, hybrid, popularity, tables)")
    for name, value in sorted(figures.items()):
        print(f"{name}: {value:,.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-replica", action="store_true", help="skip the in-process rates")
    parser.add_argument(
        "--snapshot-interval",
        type=int,
        default=0,
        help="snapshot every N s while asking (and print the snapshot figures); 0: never",
    )
    args = parser.parse_args()
    base = dataset_records(TAOBAO)
    logging.disable(logging.WARNING)  # the sample's few unreadable records
    if not args.no_replica:
        with tempfile.TemporaryDirectory() as tmp:
            replica_rates(base, Path(tmp))
    values = [orjson.dumps(r) for r in copies(base, args.copies)]
    rng = random.Random(args.seed)
    users = [
        f"{r['event']['user_id']}~{rng.randrange(args.copies)}"
        for r in rng.choices(base, k=args.queries)
    ]
    categories = sorted({str(r["event"].get("category_id")) for r in base[:2000]})[:20]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(ready_timeout=30.0) as broker:
        prefix = f"bench{os.getpid()}."
        every = str(args.snapshot_interval)
        env = {"PULSE_RECO_SNAPSHOT_INTERVAL": every, "PULSE_GRAPH_SNAPSHOT_INTERVAL": every}
        worker = WorkerProcess(broker.bootstrap, prefix, Path(tmp) / "w", env).start(60)
        try:
            t0 = time.perf_counter()
            items = [("feedback", v) for v in values]
            asyncio.run(publish(Settings(topic_prefix=prefix), broker.bootstrap, items))
            while (stats := worker.get("/reco/stats"))["offset"] < len(values):
                time.sleep(0.5)
            spent = time.perf_counter() - t0
            print(
                f"state: Taobao x{args.copies} = {len(values):,} records published and applied in "
                f"{spent:.1f} s; {stats['users']:,} users, {stats['items']:,} items "
                f"(recommender); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n"
            )
            ask(worker.url, users[:100], "k=10")  # warm up
            plain = ask(worker.url, users, "k=10")
            excluded = ask(worker.url, users, "k=10&exclude_categories=" + ",".join(categories))
            print(
                f"GET /recommendations/{{user}}?k=10, {len(users):,} users by traffic: {percentiles(plain)}"
            )
            print(f"same with exclude_categories (20 categories): {percentiles(excluded)}")
            print(f"worker side: {server_side(worker.metrics_text())}")
            print(f"load average after: {os.getloadavg()[0]:.2f}")
            if args.snapshot_interval:
                snapshot_figures(worker, len(values))
            else:
                print(f"worker RSS {rss(worker):,.0f} MiB (graph, hybrid, popularity, tables)")
        finally:
            worker.stop()


if __name__ == "__main__":
    main()
