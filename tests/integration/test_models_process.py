"""The graph and the recommender in a process of their own (``PULSE_MODELS_PROCESS``, on by
default), on the real embedded broker: the worker's views and ``/metrics`` come from it, a
models process that dies is started again and rebuilds what it held, one that stops
answering costs no decision (the rules fall back to popularity, counted), and a worker that
dies takes its models process with it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.live import metric_sum
from streams.procs import WorkerProcess
from streams.producing import publish
from streams.settings import Settings
from tests.integration.test_decisions import TS, by_rule, hesitant_user
from tests.integration.topics import read_all

pytestmark = pytest.mark.integration


def clicks(n: int) -> list[tuple[str, bytes]]:
    """``n`` views by 10 users of 12 products (each user sees several)."""
    return [
        (
            "clicks",
            orjson.dumps(
                {
                    "event_id": f"c{i}",
                    "ts": TS + i,
                    "user_id": f"u{i % 10}",
                    "product_id": f"p{(i * 7) % 12}",
                    "action": "view",
                }
            ),
        )
        for i in range(n)
    ]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(0.2)
    return found


def graph_offset(worker: WorkerProcess) -> int:
    try:  # a 503 (no offset) while the models process restarts
        return int(worker.get("/graph/stats").get("offset", -1))
    except OSError:
        return -1


def gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" in status.read_text()
    except OSError:
        return True


def fed(worker: WorkerProcess, broker: Any, prefix: str, n: int) -> int:
    """Publish ``clicks(n)``, wait until the worker's graph holds them; the models pid."""
    asyncio.run(publish(Settings(topic_prefix=prefix), broker.bootstrap, clicks(n)))
    wait_for(lambda: graph_offset(worker) == n, f"the graph at offset {n}")
    return int(worker.get("/health")["models_process"] or 0)


def test_the_models_process_answers_for_the_worker_and_comes_back_when_it_dies(
    spawn_worker, broker, prefix: str
) -> None:
    worker = spawn_worker()
    pid = fed(worker, broker, prefix, 120)
    assert pid and pid != worker.proc.pid  # type: ignore[union-attr]

    text = worker.metrics_text()
    families = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE"))
    assert [f for f, n in families.items() if n > 1] == [], "a family exported twice"
    assert metric_sum(text, "pulse_graph_nodes") == 22  # 10 users, 12 products
    assert metric_sum(text, "pulse_reco_records_total") == 120
    assert metric_sum(text, "pulse_models_feedback_offset") == 120
    assert metric_sum(text, "pulse_models_process_up") == 1
    before = worker.get("/recommendations/u1?k=3")
    assert before["model"] == "hybrid" and before["offset"] == 120
    related = worker.get("/graph/products/p0/related?k=3")["related"]
    assert related, "p0 shares its viewers with other products"

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: worker.get("/health")["models_process"] not in (None, pid), "a new one")
    wait_for(lambda: graph_offset(worker) == 120, "the graph rebuilt from the log")
    assert worker.get("/recommendations/u1?k=3") == before
    assert worker.get("/graph/products/p0/related?k=3")["related"] == related
    text = worker.metrics_text()
    assert metric_sum(text, "pulse_models_process_restarts_total") == 1
    assert metric_sum(text, "pulse_models_process_up") == 1


def test_a_models_process_that_stops_answering_costs_no_decision(
    spawn_worker, broker, prefix: str
) -> None:
    worker = spawn_worker()
    settings = Settings(topic_prefix=prefix)
    pid = fed(worker, broker, prefix, 60)
    os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing
    try:
        asyncio.run(publish(settings, broker.bootstrap, hesitant_user("p5", "waverer")))
        decisions = asyncio.run(read_all(broker.bootstrap, f"{prefix}decisions", settle=1.0))
        (win_back,) = by_rule(decisions)["win_back_hesitant_user"]
        assert win_back["subject_id"] == "waverer"
        # the popularity model's, from the worker's own replica: the viewed products
        recommended = win_back["params"]["recommendations"]
        assert recommended and set(recommended) <= {f"p{i}" for i in range(12)}
        text = worker.metrics_text()  # the models' part is missing, the worker's is there
        assert metric_sum(text, "pulse_models_fallbacks_total") >= 1
        assert metric_sum(text, "pulse_stream_events_total") == 63
        assert "pulse_graph_nodes" not in text
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: graph_offset(worker) == 63, "the models caught up")
    assert worker.get("/health")["models_process"] == pid  # never restarted


def test_a_killed_worker_takes_its_models_process_with_it(spawn_worker) -> None:
    worker = spawn_worker()
    pid = worker.get("/health")["models_process"]
    assert not gone(pid)
    worker.kill()
    wait_for(lambda: gone(pid), "the models process gone", timeout=10)


def test_the_models_can_stay_on_the_workers_loop(spawn_worker, broker, prefix: str) -> None:
    worker = spawn_worker(PULSE_MODELS_PROCESS="false")
    assert fed(worker, broker, prefix, 40) == 0  # no models process
    assert worker.get("/recommendations/u1?k=3")["model"] == "hybrid"
    assert worker.get("/graph/products/p0/related?k=3")["related"]
    text = worker.metrics_text()
    assert metric_sum(text, "pulse_graph_nodes") == 22
    assert "pulse_models_feedback_offset " not in text
    assert worker.get("/graph/products/nope/related")["error"] == "unknown product 'nope'"
