"""Content digests, and snapshots (graph + feedback-log offset) written atomically.

:func:`digest` hashes what the graph *holds* — every node's kind and name, every
edge's type, endpoints and numbers, and the decay clock — in an order given by
names, not by internal ids or dict order: replicas that applied the same log
prefix have equal digests, and so does one restored from a snapshot.

:func:`snapshot` writes everything needed to go on exactly as if never stopped
(edge slots, free lists, adjacency order, the recent event ids, counters) with
the offset of the next record to apply, to a temporary file beside ``path``
that is fsynced and renamed over it: a crash leaves the old snapshot or the new
one, never half of one. :func:`load` returns ``(graph, offset)``.

>>> import tempfile, pathlib
>>> from graph.knowledge import KnowledgeGraph
>>> g = KnowledgeGraph(half_life=3600.0)
>>> _ = g.apply({"topic": "clicks", "event": {"event_id": "e1", "ts": 1e9, "user_id": "u",
...              "product_id": "p", "action": "view"}})
>>> path = pathlib.Path(tempfile.mkdtemp()) / "graph.snap"
>>> snapshot(g, path, offset=1)
>>> h, offset = load(path)
>>> offset, digest(h) == digest(g), h.params() == g.params()
(1, True, True)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from array import array
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from graph.aspects import Extractor, extract_aspects
from graph.exceptions import SnapshotError
from graph.knowledge import KnowledgeGraph
from graph.schema import CO_EDGES, FREE, NODE_KINDS

FORMAT, VERSION = "pulse-graph", 2
_EDGE_COLUMNS = {
    "src": "i",
    "dst": "i",
    "w": "d",
    "ts": "d",
    "n": "I",
    "val": "d",
    "a": "f",
    "b": "f",
}


def digest(g: KnowledgeGraph) -> str:
    """SHA-256 (hex) of the graph's content, independent of ids and dict order."""
    kinds = np.frombuffer(g._kind, dtype=np.uint8)
    live = np.flatnonzero(kinds != FREE)
    order = sorted(live.tolist(), key=lambda v: (g._kind[v], g._names[v]))
    rank = np.full(len(kinds), -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    h = hashlib.sha256(json.dumps([g.ref, g.now, g.half_life]).encode())
    for v in order:
        h.update(bytes((g._kind[v],)) + g._names[v].encode() + b"\0")
    types = np.frombuffer(g._type, dtype=np.uint8)
    edges = np.flatnonzero(types != FREE)
    src, dst = (
        rank[np.frombuffer(g._src, dtype=np.int32)[edges]],
        rank[np.frombuffer(g._dst, dtype=np.int32)[edges]],
    )
    co = np.isin(types[edges], list(CO_EDGES)) & (src > dst)  # co-edges: lower rank first
    src[co], dst[co] = dst[co], src[co].copy()
    by = np.lexsort((dst, src, types[edges]))
    h.update(types[edges][by].tobytes() + src[by].tobytes() + dst[by].tobytes())
    for name, code in _EDGE_COLUMNS.items():
        if name not in ("src", "dst"):
            h.update(
                np.frombuffer(getattr(g, f"_{name}"), dtype=np.dtype(code))[edges][by].tobytes()
            )
    return h.hexdigest()


def snapshot(g: KnowledgeGraph, path: str | os.PathLike[str], offset: int) -> None:
    """Write ``g`` and the log ``offset`` it is good up to (next record to apply) to ``path``.

    The same as ``write(capture(g, offset), path)``: a caller that must not block for
    the write captures between records and writes from another thread.
    """
    write(capture(g, offset), path)


def capture(g: KnowledgeGraph, offset: int) -> dict[str, np.ndarray]:
    """A copy of everything a snapshot holds (no view of ``g``: it may change afterwards)."""
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "offset": offset,
        "params": g.params(),
        "clock": [g.ref, g.now],
        "counters": g.counters,
        "sizes": [g.name_bytes, g.id_bytes, g.edge_cap, g.bytes_check_at],
    }
    arrays = _arrays(g)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return arrays


def write(captured: dict[str, np.ndarray], path: str | os.PathLike[str]) -> None:
    """Write a :func:`capture` to ``path`` atomically (temp file, fsync, rename, fsync dir)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **captured)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _arrays(g: KnowledgeGraph) -> dict[str, np.ndarray]:
    arrays = {name: np.array(getattr(g, f"_{name}")) for name in _EDGE_COLUMNS}
    arrays |= {"type": np.frombuffer(g._type, dtype=np.uint8).copy()}
    arrays |= {"kind": np.frombuffer(g._kind, dtype=np.uint8).copy(), "seen": np.array(g._seen)}
    arrays |= _strings("names", g._names) | _strings("recent", list(g._recent))
    arrays |= _csr("adj", g._adj) | _csr("side", [s or () for s in g._side])
    arrays["free_nodes"] = np.array(g._free_nodes, dtype=np.int32)
    arrays["free_edges"] = np.array(g._free_edges, dtype=np.int32)
    return arrays


def _strings(name: str, values: list[str]) -> dict[str, np.ndarray]:
    encoded = [s.encode() for s in values]
    return {
        f"{name}_len": np.array([len(b) for b in encoded], dtype=np.int32),
        f"{name}_blob": np.frombuffer(b"".join(encoded), dtype=np.uint8),
    }


def _csr(name: str, lists: list[Any]) -> dict[str, np.ndarray]:
    """Per-node id arrays as lengths and one concatenated array (bytes joined: fast)."""
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    ids = np.frombuffer(b"".join([x.tobytes() for x in lists if x]), dtype=np.int32)
    return {f"{name}_len": lengths, f"{name}_ids": ids}


def load(
    path: str | os.PathLike[str], aspects: Extractor | None = extract_aspects
) -> tuple[KnowledgeGraph, int]:
    """The graph saved at ``path`` and its log offset; :class:`SnapshotError` if unreadable.

    The parameters are the saved ones; the aspect extractor (not saved) is ``aspects``.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(arrays.pop("meta").tobytes())
    except Exception as exc:  # an untrusted file: zip, npy header or JSON errors of any kind
        raise SnapshotError(f"cannot read graph snapshot {path}: {exc!r}") from exc
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise SnapshotError(f"{path} is not a {FORMAT} v{VERSION} snapshot")
    try:
        return _restore(meta, arrays, aspects), int(meta["offset"])
    except Exception as exc:  # arrays that do not fit together
        raise SnapshotError(f"damaged graph snapshot {path}: {exc!r}") from exc


def _restore(
    meta: dict[str, Any], arrays: dict[str, np.ndarray], aspects: Extractor | None
) -> KnowledgeGraph:
    g = KnowledgeGraph(**meta["params"], aspects=aspects)
    g.ref, g.now = meta["clock"]
    g.counters.update(meta["counters"])
    g.name_bytes, g.id_bytes, g.edge_cap, g.bytes_check_at = meta["sizes"]
    for name, code in _EDGE_COLUMNS.items():
        setattr(g, f"_{name}", array(code, arrays[name].tobytes()))
    g._type = bytearray(arrays["type"].tobytes())
    g._kind, g._seen = bytearray(arrays["kind"].tobytes()), array("d", arrays["seen"].tobytes())
    g._names = _unstrings(arrays, "names")
    g._recent = deque(_unstrings(arrays, "recent"))
    g._recent_set = set(g._recent)
    g._adj = _uncsr(arrays, "adj")
    g._side = [side or None for side in _uncsr(arrays, "side")]
    g._free_nodes = arrays["free_nodes"].tolist()
    g._free_edges = arrays["free_edges"].tolist()
    _reindex(g)
    return g


def _unstrings(arrays: dict[str, np.ndarray], name: str) -> list[str]:
    blob, ends = arrays[f"{name}_blob"].tobytes(), np.cumsum(arrays[f"{name}_len"]).tolist()
    return [blob[a:b].decode() for a, b in zip([0, *ends][:-1], ends, strict=True)]


def _uncsr(arrays: dict[str, np.ndarray], name: str) -> list[array[int]]:
    ids, ends = arrays[f"{name}_ids"], np.cumsum(arrays[f"{name}_len"]).tolist()
    return [array("i", ids[a:b].tobytes()) for a, b in zip([0, *ends][:-1], ends, strict=True)]


def _reindex(g: KnowledgeGraph) -> None:
    """Rebuild the name and edge-key indexes and per-type counts from the columns."""
    for v, (kind, name) in enumerate(zip(g._kind, g._names, strict=True)):
        if kind != FREE:
            g._ids[kind][name] = v
    types = np.frombuffer(g._type, dtype=np.uint8)
    live = np.flatnonzero(types != FREE)
    src = np.frombuffer(g._src, dtype=np.int32)[live].astype(np.uint64)
    dst = np.frombuffer(g._dst, dtype=np.int32)[live].astype(np.uint64)
    keys = (src << np.uint64(35)) | (dst << np.uint64(3)) | types[live].astype(np.uint64)
    g._edges = dict(zip(keys.tolist(), live.tolist(), strict=True))
    g.type_counts = np.bincount(types[live], minlength=len(g.type_counts)).tolist()
    assert len(g._ids) == len(NODE_KINDS)
