"""Recommender snapshots on disk: one ``.npz`` (factor tables as arrays, the rest as JSON),
written to a temporary file beside ``path``, fsynced and renamed over it, with the offset of
the next feedback-log record to learn. A crash leaves the old snapshot or the new one.

The graph is not in it: a shared graph is the graph replica's (``graph.persist``), and an
owned one is saved with :func:`graph.persist.snapshot` at the same offset.

>>> import pathlib, tempfile
>>> from models.reco.hybrid import Recommender
>>> from models.reco.state import digest
>>> rec = Recommender()
>>> _ = rec.learn({"topic": "clicks", "event": {"event_id": "e1", "ts": 1e9, "user_id": "u",
...                "product_id": "p", "action": "view"}})
>>> path = pathlib.Path(tempfile.mkdtemp()) / "reco.snap"
>>> save(rec, path, offset=1)
>>> copy, offset = load(path, graph=rec.graph)
>>> offset, digest(copy) == digest(rec)
(1, True)
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from graph.knowledge import KnowledgeGraph
from models.exceptions import InvalidStateError
from models.reco.hybrid import Recommender
from models.reco.state import from_state, to_state

#: The factor tables inside a state, and the numeric columns of each.
TABLES = [(model, side) for model in ("mf", "rating") for side in ("users", "items")]
COLUMNS = ("factors", "bias", "count")


def save(rec: Recommender, path: Path | str, offset: int) -> None:
    """Write ``rec``'s state and ``offset`` to ``path`` atomically."""
    write(capture(rec, offset), path)


def capture(rec: Recommender, offset: int) -> dict[str, Any]:
    """``rec``'s state and ``offset``, copied: the recommender may go on learning while
    :func:`write` (which touches no recommender, so it can run in a thread) saves it."""
    return {"offset": offset, "state": to_state(rec)}


def write(captured: dict[str, Any], path: Path | str) -> None:
    """The file half of :func:`save`: ``captured`` (from :func:`capture`) to ``path``,
    atomically (temporary file, fsync, rename, directory fsync)."""
    path = Path(path)
    state = captured["state"]
    arrays: dict[str, Any] = {}
    for model, side in TABLES:
        table = dict(state[model][side])  # the captured state is left as it was
        state = {**state, model: {**state[model], side: table}}
        for column in COLUMNS:
            values = np.asarray(table.pop(column), dtype=np.float64)
            if column == "factors":
                values = values.reshape(len(table["ids"]), table["n_factors"])
            arrays[f"{model}.{side}.{column}"] = values
    meta = orjson.dumps({"offset": captured["offset"], "state": state})
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.frombuffer(meta, dtype=np.uint8), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load(path: Path | str, graph: KnowledgeGraph | None = None) -> tuple[Recommender, int]:
    """The recommender saved at ``path`` (with ``graph``) and the next offset to learn;
    :class:`~models.exceptions.InvalidStateError` for a missing, damaged or foreign file."""
    try:
        with np.load(path) as z:
            meta: dict[str, Any] = orjson.loads(z["meta"].tobytes())
            state = meta["state"]
            for model, side in TABLES:
                table = state[model][side]
                for column in COLUMNS:
                    table[column] = z[f"{model}.{side}.{column}"]
            offset = int(meta["offset"])
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise InvalidStateError(f"cannot read a recommender snapshot from {path}: {exc!r}") from exc
    return from_state(state, graph=graph), offset
