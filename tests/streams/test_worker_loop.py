"""The worker's event loop: uvloop's unless PULSE_UVLOOP=false."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from streams.settings import Settings
from streams.worker import use_uvloop


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
