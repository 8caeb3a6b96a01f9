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
from streams.runtime import GC_THRESHOLDS, freezing, limit_blas, use_uvloop
from streams.settings import Settings
from streams.topics import ensure_topics

log = logging.getLogger(__name__)

#: When this process started (worker ready time is measured from here).
PROCESS_START = time.time()


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
    gc.set_threshold(*GC_THRESHOLDS)  # from now on, not only from the first freeze
    freezes = pulse.metrics.gc_freezes
    pulse.app.task(lambda: freezing(interval, freezes))
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
