"""Fixtures shared by every test layer.

Integration tests share one real embedded broker (Tansu) per session; each test
gets its own topic prefix and app id, so tests never see each other's data.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.procs import WorkerProcess

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()
_ids = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One embedded Kafka-protocol broker for the whole session."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(ready_timeout=30.0, log_file=log) as running:
        yield running


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A topic prefix and app id unique to this test."""
    name = request.node.name.replace("[", "-").replace("]", "").lower()[:30]
    return f"t{os.getpid()}-{next(_ids)}-{name}."


@pytest.fixture
def spawn_worker(broker: EmbeddedBroker, prefix: str, tmp_path: Path) -> Iterator[object]:
    """Start worker processes on the session broker; all are stopped after the test."""
    started: list[WorkerProcess] = []

    def spawn(**env: str) -> WorkerProcess:
        worker = WorkerProcess(broker.bootstrap, prefix, tmp_path / f"w{len(started)}", env)
        started.append(worker)
        return worker.start()

    yield spawn
    for worker in started:
        worker.stop()


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA
