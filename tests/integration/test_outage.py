"""Outages under load, while a producer keeps publishing and a worker is mid-stream:

- the broker frozen (SIGSTOP: every connection hangs) for 25 s, then back (SIGCONT);
- the network between the worker and the broker cut for 25 s (a proxy that stops relaying
  the worker's connections, while the producer's go on), then restored.

Each time the worker resumes, and the accounting finds nothing lost or doubled. Prints the
worker's resident memory over the run and the time to catch up."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.accounting import Observer, Report, expect, wait_for_delivery
from streams.broker import EmbeddedBroker, free_port
from streams.procs import WorkerProcess
from streams.producing import publish
from streams.replay import read_dataset
from streams.settings import Settings
from tests.integration.netcut import CutProxy

pytestmark = [pytest.mark.integration, pytest.mark.data]

TAOBAO = "ecom_taobao_userbehavior_sample/UserBehavior_sample.csv"
OUTAGE = 25.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def through_outage(
    what: str,
    worker: WorkerProcess,
    bootstrap: str,
    settings: Settings,
    ledger: list,
    cut: Callable[[], None],
    restore: Callable[[], None],
) -> None:
    """Publish ``ledger`` at 300 events/s; 8 s in, ``cut()`` for ``OUTAGE`` s, sampling the
    worker's RSS, then ``restore()``; once everything is published, the accounting must
    find nothing lost or doubled, and memory must not have grown by 200 MB."""
    assert worker.proc is not None
    published: list[int] = []
    producer = threading.Thread(
        target=lambda: published.append(
            asyncio.run(publish(settings, bootstrap, ledger, rate=300.0, client_id="loadgen"))
        )
    )
    memory: list[tuple[float, float]] = []
    started = time.monotonic()
    producer.start()
    time.sleep(8.0)
    cut()
    try:
        cut_at = time.monotonic()
        while time.monotonic() - cut_at < OUTAGE:
            memory.append((time.monotonic() - started, rss_mb(worker.proc.pid)))
            assert worker.proc.poll() is None, f"the worker died:\n{worker.log_tail()}"
            time.sleep(1.0)
    finally:
        restore()
    restored = time.monotonic()
    producer.join(timeout=180)
    assert not producer.is_alive(), "the producer never finished"
    assert published == [len(ledger)]
    producer_done = time.monotonic()

    async def account() -> Report:
        expected = expect(ledger, settings.max_payload_bytes)
        async with Observer(settings, bootstrap, [worker.url]) as observer:
            return await wait_for_delivery(expected, observer, timeout=150.0)

    report = asyncio.run(account())
    caught_up = time.monotonic() - restored
    memory.append((time.monotonic() - started, rss_mb(worker.proc.pid)))
    peak = max(m for _, m in memory)
    print(
        f"\n{what} {OUTAGE:.0f} s; the producer finished {producer_done - restored:.1f} s "
        f"after the restore, the outputs added up {caught_up:.1f} s after the restore; "
        f"worker RSS {memory[0][1]:.0f} MB at the cut, peak {peak:.0f} MB, "
        f"{memory[-1][1]:.0f} MB at the end\n{report.summary()}"
    )
    assert report.ok, report.summary()
    assert worker.proc.poll() is None
    assert peak < memory[0][1] + 200, "memory grew by more than 200 MB during the outage"


def test_a_frozen_broker_pauses_pulse_and_loses_nothing(
    spawn_worker, broker, prefix: str, shared_data: Path
) -> None:
    ledger = list(read_dataset(shared_data / TAOBAO, limit=14_000))
    settings = Settings(topic_prefix=prefix, app_id=prefix.rstrip("."))  # as the workers
    assert broker.process is not None
    pid = broker.process.pid
    through_outage(
        "broker frozen",
        spawn_worker(),
        broker.bootstrap,
        settings,
        ledger,
        cut=lambda: os.kill(pid, signal.SIGSTOP),
        restore=lambda: os.kill(pid, signal.SIGCONT),
    )


def test_a_network_cut_between_worker_and_broker_pauses_pulse_and_loses_nothing(
    prefix: str, tmp_path: Path, shared_data: Path
) -> None:
    ledger = list(read_dataset(shared_data / TAOBAO, limit=14_000))
    settings = Settings(topic_prefix=prefix, app_id=prefix.rstrip("."))
    proxy_port = free_port()
    with (
        EmbeddedBroker(advertised_port=proxy_port, log_file=tmp_path / "broker.log") as broker,
        CutProxy(proxy_port, broker.port) as proxy,
    ):
        bootstrap = f"127.0.0.1:{proxy_port}"  # every client, every connection: the proxy
        worker = WorkerProcess(bootstrap, prefix, tmp_path / "w0", {}).start(ready_timeout=60)
        try:
            through_outage(
                "network cut",
                worker,
                bootstrap,
                settings,
                ledger,
                cut=lambda: proxy.cut(spare={"loadgen"}),
                restore=proxy.restore,
            )
            held = proxy.held  # the worker's clients, none of the producer's
            assert held and None not in held and "loadgen" not in held, held
            print(f"held: {sorted(map(str, held))}")
        finally:
            worker.stop()
