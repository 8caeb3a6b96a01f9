"""A broker outage under load: the broker is frozen (SIGSTOP: every connection hangs, as in a
network cut) for 25 s while a producer keeps publishing and a worker is mid-stream; after it
returns (SIGCONT) the worker resumes, and the accounting finds nothing lost or doubled.
Prints the worker's resident memory over the run and the time to catch up."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from streams.accounting import Observer, Report, expect, wait_for_delivery
from streams.producing import publish
from streams.replay import read_dataset
from streams.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.data]

TAOBAO = "ecom_taobao_userbehavior_sample/UserBehavior_sample.csv"
OUTAGE = 25.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_a_frozen_broker_pauses_pulse_and_loses_nothing(
    spawn_worker, broker, prefix: str, shared_data: Path
) -> None:
    ledger = list(read_dataset(shared_data / TAOBAO, limit=14_000))
    settings = Settings(topic_prefix=prefix, app_id=prefix.rstrip("."))  # as the workers
    worker = spawn_worker()
    assert worker.proc is not None and broker.process is not None
    published: list[int] = []
    producer = threading.Thread(
        target=lambda: published.append(
            asyncio.run(publish(settings, broker.bootstrap, ledger, rate=300.0))
        )
    )
    memory: list[tuple[float, float]] = []
    started = time.monotonic()
    producer.start()
    time.sleep(8.0)
    os.kill(broker.process.pid, signal.SIGSTOP)
    try:
        frozen_at = time.monotonic()
        while time.monotonic() - frozen_at < OUTAGE:
            memory.append((time.monotonic() - started, rss_mb(worker.proc.pid)))
            assert worker.proc.poll() is None, f"the worker died:\n{worker.log_tail()}"
            time.sleep(1.0)
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
    resumed = time.monotonic()
    producer.join(timeout=180)
    assert not producer.is_alive(), "the producer never finished"
    assert published == [len(ledger)]
    producer_done = time.monotonic()

    async def account() -> Report:
        expected = expect(ledger, settings.max_payload_bytes)
        async with Observer(settings, broker.bootstrap, [worker.url]) as observer:
            return await wait_for_delivery(expected, observer, timeout=150.0)

    report = asyncio.run(account())
    caught_up = time.monotonic() - producer_done
    memory.append((time.monotonic() - started, rss_mb(worker.proc.pid)))
    peak = max(m for _, m in memory)
    print(
        f"\noutage {OUTAGE:.0f} s; the producer finished {producer_done - resumed:.1f} s after "
        f"the broker returned, the outputs added up {caught_up:.1f} s after that; "
        f"worker RSS {memory[0][1]:.0f} MB at the cut, peak {peak:.0f} MB, "
        f"{memory[-1][1]:.0f} MB at the end\n{report.summary()}"
    )
    assert report.ok, report.summary()
    assert worker.proc.poll() is None
    assert peak < memory[0][1] + 200, "memory grew by more than 200 MB during the outage"
