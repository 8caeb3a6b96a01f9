"""The worker's event loop: uvloop's unless PULSE_UVLOOP=false."""

from __future__ import annotations

import asyncio

import pytest
import uvloop
from prometheus_client import CollectorRegistry

from streams.metrics import Metrics
from streams.runtime import limit_blas, use_uvloop
from streams.settings import Settings


@pytest.fixture
def policy():
    before = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(before)


def test_uvloop_by_default_and_asyncio_when_turned_off(policy) -> None:
    assert use_uvloop(Settings(uvloop=False)) is False
    loop = asyncio.new_event_loop()
    assert not isinstance(loop, uvloop.Loop)
    loop.close()
    assert use_uvloop(Settings()) is True
    loop = asyncio.new_event_loop()
    assert isinstance(loop, uvloop.Loop)
    loop.close()


def test_the_heap_is_frozen_on_a_timer_unless_turned_off() -> None:
    import gc
    from types import SimpleNamespace

    from streams.runtime import GC_THRESHOLDS
    from streams.worker import freeze_heap

    tasks: list[object] = []
    app = SimpleNamespace(task=tasks.append)
    before = gc.get_threshold()
    try:
        metrics = Metrics(CollectorRegistry())
        off = SimpleNamespace(settings=Settings(gc_freeze_interval=0), app=app, metrics=metrics)
        assert freeze_heap(off) is False and tasks == [] and gc.get_threshold() == before  # type: ignore[arg-type]
        on = SimpleNamespace(settings=Settings(gc_freeze_interval=0.01), app=app, metrics=metrics)
        assert freeze_heap(on) is True and gc.get_threshold() == GC_THRESHOLDS  # type: ignore[arg-type]
        (task,) = tasks

        async def one_turn() -> None:
            frozen = gc.get_freeze_count()
            garbage = [[] for _ in range(1000)]  # alive at the freeze
            running = asyncio.create_task(task())  # type: ignore[operator]
            await asyncio.sleep(0.05)
            running.cancel()
            assert gc.get_freeze_count() >= frozen + len(garbage)
            assert metrics.registry.get_sample_value("pulse_gc_freezes_total") >= 1

        asyncio.run(one_turn())
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_numpys_blas_gets_the_threads_the_settings_give() -> None:
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    before = controller.select(user_api="blas").info()
    try:
        limit_blas(Settings())
        assert {p["num_threads"] for p in controller.select(user_api="blas").info()} == {1}
        limit_blas(Settings(blas_threads=2))
        assert {p["num_threads"] for p in controller.select(user_api="blas").info()} == {2}
        limit_blas(Settings(blas_threads=0))  # the library's choice: left as it is
        assert {p["num_threads"] for p in controller.select(user_api="blas").info()} == {2}
    finally:
        for pool in before:
            controller.select(filepath=pool["filepath"]).limit(limits=pool["num_threads"])
