"""The Taobao sample through a live worker: exact per-product counts, replays deduplicated,
and a worker killed halfway recovers its tables exactly (the embedded broker's end-offset
workaround at work)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from streams.procs import WorkerProcess
from streams.producing import publish
from streams.replay import read_dataset
from streams.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.data]

SAMPLE = "ecom_taobao_userbehavior_sample/UserBehavior_sample.csv"
FIELDS = ("views", "carts", "favorites", "orders", "units")


def recount(path: Path) -> dict[str, Counter[str]]:
    """Per-item counts straight from the CSV file, without Pulse's code."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    names = {"pv": "views", "cart": "carts", "fav": "favorites", "buy": "orders"}
    with path.open() as f:
        next(f)
        for line in f:
            _user, item, _cat, behavior, _ts = line.rstrip("\n").split(",")
            counts[item][names[behavior]] += 1
            if behavior == "buy":
                counts[item]["units"] += 1
    return counts


def reported(worker: WorkerProcess) -> dict[str, dict[str, float]]:
    products: dict[str, dict[str, float]] = {}
    after = ""
    while True:
        page = worker.get(f"/products?limit=100000&after={after}")
        products.update(page["products"])
        if not page["next"]:
            return products
        after = page["next"]


def applied(worker: WorkerProcess) -> int:
    return int(
        sum(
            t["views"] + t["carts"] + t["favorites"] + t["orders"]
            for t in reported(worker).values()
        )
    )


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def replay(
    bootstrap: str, prefix: str, path: Path, limit: int | None = None, rate: float | None = None
) -> int:
    settings = Settings(topic_prefix=prefix)
    return asyncio.run(publish(settings, bootstrap, read_dataset(path, limit=limit), rate=rate))


def assert_counts_match(worker: WorkerProcess, expected: dict[str, Counter[str]]) -> None:
    got = reported(worker)
    assert set(got) == set(expected)
    wrong = [pid for pid, c in expected.items() if any(got[pid][f] != c[f] for f in FIELDS)]
    assert not wrong, (
        f"{len(wrong)} products differ, e.g. {wrong[0]}: {got[wrong[0]]} vs {expected[wrong[0]]}"
    )


def test_replay_counts_exactly_and_twice_changes_nothing(
    spawn_worker, broker, prefix: str, shared_data: Path
) -> None:
    path = shared_data / SAMPLE
    expected = recount(path)
    total = sum(c["views"] + c["carts"] + c["favorites"] + c["orders"] for c in expected.values())
    worker = spawn_worker()
    started = time.monotonic()
    assert replay(broker.bootstrap, prefix, path) == total
    wait_for(lambda: worker.seen_total() >= total, 300, "the first replay")
    elapsed = time.monotonic() - started
    print(
        f"\nworker ready after {worker.ready_after:.2f} s; first replay {total} events "
        f"in {elapsed:.1f} s ({total / elapsed:.0f} events/s end to end)"
    )
    assert_counts_match(worker, expected)

    assert replay(broker.bootstrap, prefix, path) == total
    wait_for(lambda: worker.seen_total() >= 2 * total, 300, "the second replay")
    assert_counts_match(worker, expected)
    counts = worker.event_counts()
    assert sum(v for (_, o), v in counts.items() if o == "duplicate") == total
    assert sum(v for (_, o), v in counts.items() if o == "processed") == total


def test_worker_killed_halfway_recovers_exactly(
    spawn_worker, broker, prefix: str, shared_data: Path
) -> None:
    path = shared_data / SAMPLE
    expected = recount(path)
    total = sum(c["views"] + c["carts"] + c["favorites"] + c["orders"] for c in expected.values())
    half = total // 2
    worker = spawn_worker()
    replay(broker.bootstrap, prefix, path, limit=half)
    wait_for(lambda: worker.seen_total() >= half, 300, "the first half")
    worker.kill()  # SIGKILL: no clean shutdown, no final commit
    restarted = spawn_worker()
    assert applied(restarted) == half, "the restarted worker's tables lost or repeated updates"
    replay(broker.bootstrap, prefix, path)  # the whole file: the first half again, then the rest
    wait_for(lambda: applied(restarted) >= total, 300, "the rest of the file")
    time.sleep(2)  # anything counted twice would show up now
    assert_counts_match(restarted, expected)
    print(f"\nrestarted worker ready after {restarted.ready_after:.2f} s")
