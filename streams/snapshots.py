"""The file half of a replica's snapshot, shared by the graph and the recommender replicas."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def write_snapshot(
    what: str,
    write: Callable[[dict[str, Any], Path], None],
    captured: dict[str, Any],
    path: Path,
    offset: int,
    seconds: Any,
    outcomes: Any,
    size: Any,
) -> bool:
    """Write ``captured`` with ``write`` (atomic), timing it into ``seconds{phase="write"}``,
    counting it in ``outcomes{outcome}`` and its bytes in ``size``; False when it failed
    (logged: a failed snapshot must not stop the replica, and the old file stays)."""
    started = time.perf_counter()
    try:
        write(captured, path)
        written = path.stat().st_size
    except Exception:
        log.exception("%s snapshot at offset %d not written to %s", what, offset, path)
        outcomes.labels(outcome="failed").inc()
        return False
    took = time.perf_counter() - started
    seconds.labels(phase="write").set(took)
    size.set(written)
    outcomes.labels(outcome="written").inc()
    log.info("%s snapshot: offset %d, %d bytes, written in %.2f s", what, offset, written, took)
    return True
