"""Snapshots in a forked child: the file holds the state as it was at the fork whatever the
worker does next, a failing or killed child is reported and counted, the old file stays."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from graph import digest
from graph.persist import load
from streams.snapshots import can_fork, check_folders, fork_snapshot
from tests.streams.test_graph_replica import feed, replica, sample, snapshot_now

pytestmark = pytest.mark.skipif(not can_fork(), reason="this platform cannot fork")


def test_the_child_writes_the_state_of_the_fork_while_the_worker_goes_on(tmp_path: Path) -> None:
    r, twin = replica(tmp_path / "a"), replica(tmp_path / "b")
    assert r.graph is not None and twin.graph is not None and r.graph.fork
    check_folders(r.graph.settings)
    feed(r, 0, 200)
    feed(twin, 0, 200)

    async def go() -> None:
        assert r.graph is not None
        assert r.graph.snapshot(r.offset)
        feed(r, 200, 400)  # at once, while the child copies and writes
        await r.graph._writing  # type: ignore[misc]

    asyncio.run(go())
    g, offset = load(r.graph.path)
    assert offset == 200 and digest(g) == digest(twin.graph.graph) != digest(r.graph.graph)
    assert r.graph.snapshot_offset == 200
    assert sample(r, 'pulse_graph_snapshots_total{outcome="written"}') == 1
    assert sample(r, "pulse_graph_snapshot_bytes") == r.graph.path.stat().st_size


@pytest.mark.parametrize("fork", [True, False])
def test_forked_and_in_worker_snapshots_are_the_same_file(tmp_path: Path, fork: bool) -> None:
    r = replica(tmp_path, snapshot_fork=fork)
    assert r.graph is not None and r.graph.fork == fork
    check_folders(r.graph.settings)
    feed(r, 0, 150)
    assert snapshot_now(r)
    g, offset = load(r.graph.path)
    assert offset == 150 and digest(g) == digest(r.graph.graph)


def test_a_child_that_fails_is_reported_and_the_old_file_stays(tmp_path: Path) -> None:
    r = replica(tmp_path)
    assert r.graph is not None
    check_folders(r.graph.settings)
    feed(r, 0, 50)
    assert snapshot_now(r)
    old, before = r.graph.path, r.graph.path.read_bytes()
    feed(r, 50, 60)
    (tmp_path / "file").write_text("")
    r.graph.path = tmp_path / "file" / "graph.snap"  # no temporary file can be made there
    assert snapshot_now(r)
    r.graph.path = old
    assert r.graph.path.read_bytes() == before and r.graph.snapshot_offset == 50
    assert sample(r, 'pulse_graph_snapshots_total{outcome="failed"}') == 1


def test_errors_and_deaths_of_the_child_reach_the_worker(tmp_path: Path) -> None:
    def broken() -> None:
        raise ValueError("cannot copy this")

    done = fork_snapshot(broken, lambda captured, path: None, tmp_path / "x")()
    assert not done.ok and done.error == "ValueError: cannot copy this"

    def killed() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    done = fork_snapshot(killed, lambda captured, path: None, tmp_path / "x")()
    assert not done.ok and "killed by signal 9 without a report" in done.error

    def fine() -> bytes:
        return b"state"

    done = fork_snapshot(fine, lambda data, path: path.write_bytes(data), tmp_path / "y")()
    assert done.ok and done.size == 5 and (tmp_path / "y").read_bytes() == b"state"
