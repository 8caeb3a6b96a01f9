"""Delivery accounting through live workers: real traffic mixed with hostile payloads and
repeats, workers killed (SIGKILL) mid-stream and restarted; afterwards every valid event
must be applied exactly once in state, each invalid one be a dead letter with its reason,
and no decision id appear twice (:mod:`streams.accounting`)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.accounting import Observer, Report, expect, wait_for_delivery
from streams.procs import WorkerProcess
from streams.producing import Item, json_lines, publish
from streams.replay import read_dataset
from streams.settings import Settings
from tests.hostile import corpus

pytestmark = [pytest.mark.integration, pytest.mark.data]

TAOBAO = "ecom_taobao_userbehavior_sample/UserBehavior_sample.csv"
AMAZON = "en_amazon_multidomain_sentiment/multidomain_sentiment_labeled.csv.gz"


def mixed_ledger(shared_data: Path, clicks: int, reviews: int) -> list[Item]:
    """Taobao clicks and sales, Amazon reviews, hostile payloads and repeated events,
    interleaved in a fixed order."""
    traffic = list(read_dataset(shared_data / TAOBAO, limit=clicks))
    texts = list(read_dataset(shared_data / AMAZON, limit=reviews))
    ledger: list[Item] = []
    step = max(1, len(traffic) // max(1, len(texts)))
    for i, review in enumerate(texts):
        ledger.extend(traffic[i * step : (i + 1) * step])
        ledger.append(review)
    ledger.extend(traffic[len(texts) * step :])
    bad = [(topic, payload) for n in range(8) for topic, payload, _ in corpus(f"bad{n}")]
    spaced = len(ledger) // (len(bad) + 1)
    for k, item in enumerate(bad, start=1):
        ledger.insert(k * spaced + k - 1, item)
    ledger.extend(ledger[1000:1500])  # a producer retrying a stretch it already sent
    return ledger


def run_report(
    settings: Settings, bootstrap: str, ledger: list[Item], workers: list[str]
) -> Report:
    async def go() -> Report:
        expected = expect(ledger, settings.max_payload_bytes, settings.max_future_skew)
        async with Observer(settings, bootstrap, workers) as observer:
            return await wait_for_delivery(expected, observer, timeout=150.0)

    return asyncio.run(go())


def test_kill_one_of_two_workers_mid_stream_loses_and_doubles_nothing(
    spawn_worker, broker, prefix: str, shared_data: Path
) -> None:
    ledger = mixed_ledger(shared_data, clicks=10_000, reviews=1_000)
    settings = Settings(topic_prefix=prefix, app_id=prefix.rstrip("."))  # as the workers
    first, second = spawn_worker(), spawn_worker()
    half = len(ledger) // 2
    asyncio.run(publish(settings, broker.bootstrap, ledger[:half]))
    deadline = time.monotonic() + 120
    while first.seen_total() < 1_500:  # killed with work in hand
        assert time.monotonic() < deadline, "the first worker never got going"
        time.sleep(0.05)
    first.kill()
    killed = time.monotonic()
    asyncio.run(publish(settings, broker.bootstrap, ledger[half:]))
    while len(second.get("/health")["assigned_partitions"]) < settings.partitions:
        assert time.monotonic() - killed < 60, "the survivor never took over"
        time.sleep(0.2)
    takeover = time.monotonic() - killed
    first.start()

    report = run_report(settings, broker.bootstrap, ledger, [first.url, second.url])
    print(f"\ntakeover after kill -9: {takeover:.1f} s\n{report.summary()}")
    assert report.ok, report.summary()
    assert report.figures["invalid published"] >= 8 * sum(1 for _ in corpus())
    assert report.figures["repeated event ids published"] >= 400
    assert report.figures["scored reviews"] >= 1_000


def owned(*workers: WorkerProcess) -> int:
    """Partitions the live ones among ``workers`` say they own."""
    return sum(len(w.get("/health")["assigned_partitions"]) for w in workers if w.proc)


def test_three_workers_two_kills_lose_and_double_nothing(
    spawn_worker, broker, prefix: str, shared_data: Path
) -> None:
    """Kill one of three mid-replay, restart it, then kill another: takeover each time, and
    the accounting at the end still finds every event applied once."""
    ledger = mixed_ledger(shared_data, clicks=9_000, reviews=600)
    settings = Settings(topic_prefix=prefix, app_id=prefix.rstrip("."))  # as the workers
    a, b, c = spawn_worker(), spawn_worker(), spawn_worker()
    third = len(ledger) // 3
    takeovers = []

    def kill_and_wait(
        victim: WorkerProcess, survivors: list[WorkerProcess], chunk: list[Item]
    ) -> None:
        victim.kill()
        killed = time.monotonic()
        asyncio.run(publish(settings, broker.bootstrap, chunk))
        while owned(*survivors) < settings.partitions:
            assert time.monotonic() - killed < 60, "the survivors never took over"
            time.sleep(0.2)
        takeovers.append(time.monotonic() - killed)

    asyncio.run(publish(settings, broker.bootstrap, ledger[:third]))
    deadline = time.monotonic() + 120
    while a.seen_total() < 500:
        assert time.monotonic() < deadline, "the first worker never got going"
        time.sleep(0.05)
    kill_and_wait(a, [b, c], ledger[third : 2 * third])
    a.start()
    kill_and_wait(b, [a, c], ledger[2 * third :])
    b.start()

    report = run_report(settings, broker.bootstrap, ledger, [a.url, b.url, c.url])
    print(f"\ntakeovers: {', '.join(f'{t:.1f} s' for t in takeovers)}\n{report.summary()}")
    assert report.ok, report.summary()


def test_the_checker_sees_a_lost_and_a_doubled_event(
    spawn_worker, broker, prefix: str, shared_data: Path
) -> None:
    """The accounting is not vacuous: an event claimed but never sent is lost; an event
    sent under two ids is over-counted in its product's totals."""
    ledger = list(itertools.islice(read_dataset(shared_data / TAOBAO), 300))
    settings = Settings(topic_prefix=prefix, app_id=prefix.rstrip("."))  # as the workers
    worker = spawn_worker()
    asyncio.run(publish(settings, broker.bootstrap, ledger[1:]))  # the first one never sent
    twin = ledger[5][1].model_copy(update={"event_id": "twin-of-5"})  # type: ignore[union-attr]
    asyncio.run(publish(settings, broker.bootstrap, [(ledger[5][0], twin)]))
    deadline = time.monotonic() + 60
    while worker.seen_total() < len(ledger):
        assert time.monotonic() < deadline, "the worker never consumed the ledger"
        time.sleep(0.2)

    async def go() -> Report:
        expected = expect(ledger, settings.max_payload_bytes)
        async with Observer(settings, broker.bootstrap, [worker.url]) as observer:
            return await wait_for_delivery(expected, observer, timeout=5.0)

    report = asyncio.run(go())
    assert not report.ok
    assert report.figures["events lost"] == 1
    assert report.figures["products over-counted"] == 1
    assert any("not published" in p and "twin-of-5" in p for p in report.problems)


def test_pulse_check_delivery_on_a_published_file(
    spawn_worker, broker, prefix: str, tmp_path: Path
) -> None:
    """The command line: a JSON-lines file with a repeat and a broken line, published as
    `pulse produce` does, accounted for by `pulse check delivery` (exit 0), and a file
    that claims one event more is refused (exit 1)."""
    lines = [
        json.dumps(
            {
                "event_id": f"c{i}",
                "ts": 1.7e9 + i,
                "user_id": f"u{i % 7}",
                "product_id": f"p{i % 13}",
                "action": "view",
            }
        )
        for i in range(200)
    ]
    lines += [lines[3], "{broken"]
    sent = tmp_path / "clicks.jsonl"
    sent.write_text("\n".join(lines) + "\n")
    settings = Settings(topic_prefix=prefix, app_id=prefix.rstrip("."))  # as the workers
    worker = spawn_worker()
    with sent.open("rb") as f:
        asyncio.run(publish(settings, broker.bootstrap, json_lines("clicks", f)))
    env = {**os.environ, "PULSE_TOPIC_PREFIX": prefix, "PULSE_KAFKA_BOOTSTRAP": broker.bootstrap}
    command = [sys.executable, "-m", "streams.cli", "check", "delivery", "-w", worker.url]
    ok = subprocess.run(
        [*command, "--lines", f"clicks={sent}", "--timeout", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "delivery: OK" in ok.stdout and "dead letters: 1" in ok.stdout

    claimed = tmp_path / "claimed.jsonl"
    claimed.write_text(sent.read_text() + lines[0].replace('"c0"', '"never-sent"') + "\n")
    bad = subprocess.run(
        [*command, "--lines", f"clicks={claimed}", "--timeout", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "never-sent" in bad.stdout
