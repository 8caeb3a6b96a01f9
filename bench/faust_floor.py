"""The Faust floor of bench/e2e.py: a minimal Faust agent, one table update per event.

    .venv/bin/python bench/faust_floor.py --bootstrap HOST:PORT --topics T1,T2 \\
        --expected N --result PATH [--app-id ID] [--data-dir DIR]

The app is configured as a Pulse worker's (``streams/app.py``: the same transport for the
embedded broker and fetch wait, the same event loop, memory store, acks from every replica, producer linger and batch size,
session timeout, partitions); its one agent reads the raw bytes of ``--topics`` event by
event (``async for``), decodes the JSON and adds one to a table keyed by product id (a
changelog record per event). From the first completed rebalance until it has seen
``--expected`` events it is timed, then it writes ``{"per_s", "events", "seconds",
"cpu_seconds", "ready_s"}`` to ``--result`` and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and bench/rules.py would hide
# the rules package (streams.app imports it): the repository root goes there instead.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import faust  # noqa: E402
import orjson  # noqa: E402

from streams.app import new_app  # noqa: E402
from streams.settings import Settings, load_settings  # noqa: E402
from streams.worker import use_uvloop  # noqa: E402

STARTED = time.monotonic()


class Clock:
    """Counts events; times them from the first rebalance to the ``expected``-th event."""

    def __init__(self, expected: int, result: Path):
        self.expected = expected
        self.result = result
        self.seen = 0
        self.start: tuple[float, float, int] | None = None  # wall, CPU, events seen then

    def ready(self) -> None:
        if self.start is None:
            self.start = (time.monotonic(), time.process_time(), self.seen)

    def count(self) -> None:
        self.seen += 1
        if self.seen == self.expected:
            self.finish()

    def finish(self) -> None:
        self.ready()
        assert self.start is not None
        wall, cpu, before = self.start
        seconds = time.monotonic() - wall
        figures = {
            "per_s": (self.seen - before) / seconds,
            "events": self.seen - before,
            "seconds": seconds,
            "cpu_seconds": time.process_time() - cpu,
            "ready_s": wall - STARTED,
        }
        partial = self.result.with_suffix(".part")
        partial.write_text(json.dumps(figures))
        partial.rename(self.result)
        os.kill(os.getpid(), signal.SIGTERM)  # the Faust worker stops cleanly on it


def make_app(settings: Settings, bootstrap: str, topics: list[str], clock: Clock) -> faust.App:
    """The floor app: Pulse's broker settings, one agent, one table."""
    # the embedded broker's transport, whatever PULSE_KAFKA_FLAVOR says: e2e runs on it
    app = new_app(
        settings.model_copy(update={"kafka_flavor": "tansu"}), bootstrap, web_enabled=False
    )
    source = app.topic(
        *topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    table = app.Table("views", default=int, partitions=settings.partitions)

    @app.agent(source, name="floor")
    async def floor(stream: faust.StreamT) -> None:
        async for value in stream:
            table[orjson.loads(value)["product_id"]] += 1
            clock.count()

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def _ready(sender: Any, **kwargs: Any) -> None:
        clock.ready()

    return app


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topics", required=True, help="comma-separated real topic names")
    p.add_argument("--expected", type=int, required=True)
    p.add_argument("--result", type=Path, required=True)
    p.add_argument("--app-id", default="faust-floor")
    p.add_argument("--data-dir", type=Path, default=Path(".pulse"))
    args = p.parse_args()
    settings = load_settings(app_id=args.app_id, data_dir=args.data_dir)
    use_uvloop(settings)  # the worker's event loop, as a worker has it
    asyncio.set_event_loop(asyncio.new_event_loop())
    (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
    clock = Clock(args.expected, args.result)
    app = make_app(settings, args.bootstrap, args.topics.split(","), clock)
    faust.Worker(
        app, loglevel="warning", quiet=True, redirect_stdouts=False
    ).execute_from_commandline()


if __name__ == "__main__":
    main()
