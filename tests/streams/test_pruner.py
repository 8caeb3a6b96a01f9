"""The pruner of event ids and decision keys: stale entries of the batch's partitions are
forgotten in a pass beside the agent, never one renewed meanwhile, nothing after a rebalance."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from streams import agents
from streams.agents import Pruner

TOPIC = "app-seen-changelog"


class Table:
    def __init__(self, rows: dict[bytes, tuple[int, float]]):
        self.data = dict(rows)
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: TOPIC)


def pruner(table: Table, horizon: float = 1_000.0) -> tuple[Pruner, list[Any], list[float]]:
    sent: list[Any] = []
    newest: list[float] = []

    async def send(app: object, messages: Any) -> None:
        sent.extend(messages)

    pulse: Any = SimpleNamespace(app=SimpleNamespace(consumer_generation_id=1))
    p = Pruner(pulse, table, "ids", lambda: horizon, on_newest=newest.append, send=send)
    p.next_run = 0.0  # due at once
    return p, sent, newest


def batch(*partitions: int) -> list[Any]:
    return [SimpleNamespace(message=SimpleNamespace(partition=p)) for p in partitions]


def test_stale_entries_of_the_batch_partitions_are_forgotten() -> None:
    table = Table({b"old0": (0, 100.0), b"new0": (0, 5_000.0), b"old1": (1, 100.0)})
    p, sent, newest = pruner(table)

    async def go() -> int:
        task = p.maybe_prune(batch(0, 0))
        assert task is not None
        return await task

    assert asyncio.run(go()) == 1
    assert sent == [(TOPIC, b"old0", None, 0, None)]  # a tombstone on the entry's partition
    assert set(table.data) == {b"new0", b"old1"}, "partition 1 is not in the batch"
    assert newest == [5_000.0]


def test_a_pass_runs_beside_the_agent_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agents, "PRUNE_SLICE", 10)
    table = Table({f"k{i}".encode(): (0, float(i)) for i in range(1_000)})
    p, _, _ = pruner(table, horizon=500.0)

    async def go() -> tuple[int, int]:
        task = p.maybe_prune(batch(0))
        assert task is not None and not task.done()
        assert p.maybe_prune(batch(0)) is None, "one pass at a time"
        turns = 0
        while not task.done():  # the agent's loop goes on meanwhile
            turns += 1
            await asyncio.sleep(0)
        return task.result(), turns

    forgotten, turns = asyncio.run(go())
    assert forgotten == 499 and len(table.data) == 501  # ts < 999 - 500
    assert turns >= 100, "two passes of 100 slices, a turn between each"


def test_an_entry_renewed_during_the_pass_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agents, "PRUNE_SLICE", 10)
    table = Table({f"k{i}".encode(): (0, float(i)) for i in range(100)})
    table.data[b"k0"] = (0, 0.0)
    p, sent, _ = pruner(table, horizon=50.0)

    async def go() -> int:
        task = p.maybe_prune(batch(0))
        assert task is not None
        for _ in range(15):  # into the second pass: k0 is listed stale by now
            await asyncio.sleep(0)
        table.data[b"k0"] = (0, 99.0)  # the agent saw it again
        return await task

    assert asyncio.run(go()) == 48  # k1..k48
    assert b"k0" in table.data and all(m[1] != b"k0" for m in sent)


def test_nothing_is_forgotten_once_the_group_rebalanced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agents, "PRUNE_SLICE", 10)
    table = Table({f"k{i}".encode(): (0, float(i)) for i in range(100)})
    p, sent, _ = pruner(table, horizon=10.0)

    async def go() -> int:
        task = p.maybe_prune(batch(0))
        assert task is not None
        await asyncio.sleep(0)
        p.pulse.app.consumer_generation_id = 2
        return await task

    assert asyncio.run(go()) == 0 and sent == [] and len(table.data) == 100


def test_a_failing_pass_is_logged_and_the_next_one_tries_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = Table({b"old": (0, 0.0), b"new": (0, 5_000.0)})
    p, _, _ = pruner(table)

    async def refuse(app: object, messages: Any) -> None:
        raise RuntimeError("broker gone")

    p.send = refuse

    async def go() -> int:
        task = p.maybe_prune(batch(0))
        assert task is not None
        return await task

    assert asyncio.run(go()) == 0
    assert "pruning ids failed" in caplog.text
    assert p.maybe_prune(batch(0)) is None, "not due again for a minute"
