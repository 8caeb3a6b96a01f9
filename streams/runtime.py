"""What every long-running Pulse process sets up at start: logging, the event loop, numpy's
BLAS threads and the heap freezing. The worker (:mod:`streams.worker`) and its models process
(:mod:`streams.models_process`) both use it; it imports neither Faust nor Kafka."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from typing import Any

from streams.settings import Settings

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    """Log to standard error at ``level``, with time, level and logger name."""
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def use_uvloop(settings: Settings) -> bool:
    """Make new event loops uvloop's (the worker's, and its consumer thread's) when
    ``PULSE_UVLOOP`` is on and uvloop is installed; True if they are."""
    if not settings.uvloop:
        return False
    try:
        import uvloop
    except ImportError:  # not on this platform: asyncio's own loop
        log.info("uvloop not installed: asyncio's event loop")
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def limit_blas(settings: Settings) -> None:
    """Give numpy's BLAS ``PULSE_BLAS_THREADS`` threads in this process (0: its own choice).

    OpenBLAS threads a matrix-vector product over every item (the recommender's rankings);
    between two such products its extra threads spin, waiting for the next. Measured here
    (75,000 x 32 float32, calls 1 ms apart): 0.22 ms and 1.46 CPU ms a product on two
    threads, 0.47 ms and 0.45 CPU ms on one; on a worker's shared cores the spinning takes
    the CPU the event loop needs.
    """
    if settings.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=settings.blas_threads, user_api="blas")


#: Allocations between young collections while the heap is frozen (Python's default: 700).
GC_THRESHOLDS = (10_000, 10, 10)


async def freezing(interval: float, freezes: Any) -> None:
    """Every ``interval`` s, move the objects then alive out of the cyclic collector's scans
    (``gc.freeze``), counting each freeze on ``freezes`` (:func:`streams.worker.freeze_heap`
    says why)."""
    gc.set_threshold(*GC_THRESHOLDS)
    while True:
        await asyncio.sleep(interval)
        gc.freeze()  # O(1): the generations' lists are spliced
        # counted, not sized: gc.get_freeze_count() walks every frozen object (~0.2 s
        # of a busy worker's event loop at each freeze), and sizing the young
        # generations before it took 40-100 ms
        freezes.inc()
