"""Batches of a Faust stream's events, filled while the agent works on the one before.

:func:`take` is Faust's ``Stream.noack_take`` (events, never acked here: the agent acks
them once their batch is written) with one change. Faust's version stops the stream from
adding to its buffer while the agent holds a batch, so the next batch starts filling only
when the agent asks for it, and waits up to ``within`` while the stream hands events on
one at a time (tens of microseconds each). Under a backlog that wait was a fifth of a
worker's time: batches of ~420 events (of 500) took 20 ms to fill, each time, with the
fetched events waiting in the stream's queue (``bench/e2e.py`` reports events per batch).
Here the batch the agent gets is a copy, the buffer is emptied before the agent sees it,
and the stream goes on filling the next one meanwhile (up to ``max_``, then it waits);
while the agent awaits the broker, the loop has that work to do.

What a batch is does not change: at most ``max_`` events in stream order, handed over when
``max_`` are buffered or ``within`` seconds after the agent asked, whichever comes first
(never empty). Events buffered across a rebalance are handed over as before, for the agent
to drop the stale ones (:func:`streams.agents.current`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import faust
from mode.utils.aiter import aiter

log = logging.getLogger(__name__)


async def take(stream: faust.StreamT, max_: int, within: float) -> AsyncIterator[list[Any]]:
    """Lists of at most ``max_`` of ``stream``'s events (not acked), the next filled meanwhile."""
    s: Any = stream
    buffer: list[Any] = []
    full, consumed = asyncio.Event(), asyncio.Event()

    async def add_to_buffer(value: Any) -> Any:
        try:
            event = s.current_event
            if event is None:
                raise RuntimeError("the take buffer found no current event")
            buffer.append(event)
            if len(buffer) >= max_:  # never more than max_: wait until the agent takes them
                full.set()
                consumed.clear()
                await s.wait(consumed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("adding to the take buffer failed: %r", exc)
            await s.crash(exc)
        return value

    acks = s.enable_acks
    s.enable_acks = False  # the agent acks each event after its batch is written
    s.add_processor(add_to_buffer)
    s._enable_passive(aiter(s.channel))  # noqa: SLF001 - as noack_take does
    try:
        while not s.should_stop:
            await s.wait_for_stopped(full, timeout=within)
            if buffer:
                taken = buffer[:]
                buffer.clear()  # the stream fills the next batch while the agent works
                full.clear()
                consumed.set()
                yield taken
    finally:
        s.enable_acks = acks
        s._processors.remove(add_to_buffer)  # noqa: SLF001
