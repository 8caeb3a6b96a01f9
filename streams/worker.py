"""Running one Pulse worker process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time

import faust

from streams.app import Pulse, create_app, warm_up
from streams.broker import bootstrap_servers
from streams.settings import Settings
from streams.topics import ensure_topics

log = logging.getLogger(__name__)

#: When this process started (worker ready time is measured from here).
PROCESS_START = time.time()


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


def freeze_heap(pulse: Pulse) -> bool:
    """Every ``PULSE_GC_FREEZE_INTERVAL`` s, move the objects then alive out of the cyclic
    collector's scans (``gc.freeze``); True if the task was registered.

    A worker's heap is millions of long-lived, cycle-free objects (product states, the
    graph, the recommender, user facts); each full collection walked all of them and
    found almost nothing (0-72 objects), stalling the event loop 0.1-0.4 s every 1-4 s at
    1,200 events/s: most of the event-to-decision p99. Reference counting still frees
    frozen objects; only a reference cycle that was alive at a freeze and dies later is
    never collected (few are made: asyncio's futures and tracebacks, mostly short-lived).
    """
    interval = pulse.settings.gc_freeze_interval
    if not interval:
        return False
    gc.set_threshold(*GC_THRESHOLDS)
    freezes = pulse.metrics.gc_freezes

    async def freeze() -> None:
        while True:
            await asyncio.sleep(interval)
            gc.freeze()  # O(1): the generations' lists are spliced
            # counted, not sized: gc.get_freeze_count() walks every frozen object (~0.2 s
            # of a busy worker's event loop at each freeze), and sizing the young
            # generations before it took 40-100 ms
            freezes.inc()

    pulse.app.task(freeze)
    return True


def prepare(settings: Settings, bootstrap: str) -> Pulse:
    """Create the topics if missing and build the app."""
    use_uvloop(settings)
    limit_blas(settings)
    (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(ensure_topics(settings, bootstrap))
    finally:
        loop.close()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulse = create_app(settings, bootstrap, started=PROCESS_START)
    warm_up(pulse)
    freeze_heap(pulse)
    return pulse


def run_worker(settings: Settings) -> None:
    """Run a worker until SIGINT/SIGTERM; starts the embedded broker if none is configured."""
    with contextlib.ExitStack() as stack:
        if settings.kafka_bootstrap is None:
            settings = settings.model_copy(update={"kafka_flavor": "tansu"})
        bootstrap = stack.enter_context(
            bootstrap_servers(settings.kafka_bootstrap, settings.broker_ready_timeout)
        )
        pulse = prepare(settings, bootstrap)
        worker = faust.Worker(
            pulse.app,
            loglevel=settings.log_level,
            quiet=True,
            redirect_stdouts=False,
        )
        log.info(
            "worker %s on %s, web %s", settings.app_id, bootstrap, pulse.app.conf.canonical_url
        )
        worker.execute_from_commandline()
