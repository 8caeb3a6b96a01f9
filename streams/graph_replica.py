"""This worker's knowledge-graph replica: feedback records in, metrics and snapshots out.

:class:`GraphReplica` wraps a :class:`graph.KnowledgeGraph` for the feedback
replica (:mod:`streams.replica`), which hands it every new record with its log
offset. The graph itself knows nothing of Kafka; this module adds what a worker
needs around it:

- **Settings** (``PULSE_GRAPH_*``) become the graph's parameters, checked when the
  worker is built: a bad value stops it with a message naming the variable.
- **Snapshots**: every ``PULSE_GRAPH_SNAPSHOT_INTERVAL`` seconds, between two
  batches, the graph is *captured* on the event loop (arrays copied, with the next
  log offset) and *written* in a thread, atomically (:func:`graph.persist.write`).
- **Restore**: at start the snapshot, when present, readable, made with the same
  graph settings and not ahead of the log, is loaded; the replica still reads the
  log from offset 0 (the popularity model, user facts and the replica's event-id
  window are rebuilt from the whole log, as before) and only records below the
  snapshot's offset skip the graph, which already holds them. Anything else is
  logged, and the graph is rebuilt from the whole log.

Every replica that applied the same log prefix holds the same graph, snapshot or
not: the graph sees exactly the records the replica's own deduplication let
through, and that window is rebuilt from offset 0 on every start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from graph import InvalidEventError, InvalidParameterError, KnowledgeGraph
from graph.bounds import estimated_bytes
from graph.persist import capture, digest, load, write
from graph.queries import stats
from graph.schema import EDGE_TYPES, NODE_KINDS
from streams import snapshots
from streams.exceptions import ConfigurationError
from streams.metrics import Metrics
from streams.settings import Settings

log = logging.getLogger(__name__)

#: Outcomes of a record given to the graph (``pulse_graph_records_total``).
OUTCOMES = ("applied", "duplicate", "invalid", "skipped")
#: ``graph.counters`` name -> (kind, reason) of ``pulse_graph_pruned_total``.
PRUNED = {
    "pruned_edges_weak": ("edge", "weak"),
    "pruned_edges_cap": ("edge", "cap"),
    "pruned_nodes_bare": ("node", "bare"),
    "pruned_nodes_cap": ("node", "cap"),
}


def new_graph(settings: Settings) -> KnowledgeGraph:
    """An empty graph with the worker's parameters (ConfigurationError if they do not fit).

    ``dedup_ids=0``: the feedback replica drops repeated event ids before the graph
    sees them, with a larger window that every start rebuilds from the whole log.
    """
    try:
        return KnowledgeGraph(
            half_life=settings.graph_half_life,
            min_weight=settings.graph_min_weight,
            max_edges=settings.graph_max_edges,
            max_nodes=settings.graph_max_nodes,
            max_bytes=settings.graph_max_bytes,
            dedup_ids=0,
        )
    except InvalidParameterError as exc:
        raise ConfigurationError(
            f"knowledge graph settings: {exc} (change the PULSE_GRAPH_* variable it names)"
        ) from None


class GraphReplica:
    """One worker's graph, its snapshots and its metrics."""

    def __init__(self, settings: Settings, metrics: Metrics, topic: str):
        self.graph = new_graph(settings)
        self.settings = settings
        self.metrics = metrics
        self.interval = settings.graph_snapshot_interval
        #: Snapshot in a forked child (:mod:`streams.snapshots`), or copy here.
        self.fork = settings.snapshot_fork and snapshots.can_fork()
        self.meters = snapshots.Meters(
            "graph",
            metrics.graph_snapshot_seconds,
            metrics.graph_snapshots,
            metrics.graph_snapshot_bytes,
        )
        #: The snapshot file: one per feedback topic, so a prefix never loads another's.
        self.path = settings.graph_folder() / f"{topic}.snap"
        #: Records below this offset are already in the graph (restored from a snapshot).
        self.skip_below = 0
        #: How this replica started: ``{"snapshot": path or None, "offset", "seconds", "note"}``.
        self.restored: dict[str, Any] = {"snapshot": None, "offset": 0, "note": "not yet"}
        #: The offset of the last snapshot written or loaded, and when it was.
        self.snapshot_offset: int | None = None
        self.snapshot_at: float | None = None
        self.clock = time.monotonic
        self._due = self.clock() + self.interval
        self._writing: asyncio.Future[None] | Future[None] | None = None
        self._outcomes = dict.fromkeys(OUTCOMES, 0)
        self._exported = dict.fromkeys((*OUTCOMES, *PRUNED), 0)
        self._digest: tuple[tuple[int, int], str] | None = None
        self._children(metrics)

    def _children(self, metrics: Metrics) -> None:
        """Create every labelled series, so dashboards show zeros rather than nothing."""
        for outcome in OUTCOMES:
            metrics.graph_records.labels(outcome=outcome)
        for kind, reason in PRUNED.values():
            metrics.graph_pruned.labels(kind=kind, reason=reason)
        for outcome in ("written", "failed"):
            metrics.graph_snapshots.labels(outcome=outcome)
        for phase in ("capture", "write"):
            metrics.graph_snapshot_seconds.labels(phase=phase)
        self.export()

    # -- the hot path -------------------------------------------------------------------------

    def learn(self, record: dict[str, Any], offset: int) -> None:
        """Apply one record (new to the replica) found at ``offset`` of the feedback log."""
        if offset < self.skip_below:
            self._outcomes["skipped"] += 1
            return
        try:
            applied = self.graph.apply(record)
        except InvalidEventError as exc:
            log.warning("feedback record at offset %d not applied to the graph: %s", offset, exc)
            self._outcomes["invalid"] += 1
            return
        self._outcomes["applied" if applied else "duplicate"] += 1

    # -- between batches ----------------------------------------------------------------------

    def after_batch(self, offset: int) -> None:
        """Export metrics, and snapshot when due; ``offset``: the next record to apply."""
        self.export()
        if self.interval and self.clock() >= self._due:
            self.snapshot(offset)

    def export(self) -> None:
        """Set the graph gauges and add what the counters gained since the last export."""
        g, m = self.graph, self.metrics
        for i, kind in enumerate(NODE_KINDS):
            m.graph_nodes.labels(kind=kind).set(len(g._ids[i]))
        for kind, count in zip(EDGE_TYPES, g.type_counts, strict=True):
            m.graph_edges.labels(kind=kind).set(count)
        m.graph_edge_cap.set(g.edge_cap)
        m.graph_bytes.set(estimated_bytes(g))
        for outcome in OUTCOMES:
            self._add(outcome, self._outcomes[outcome], m.graph_records.labels(outcome=outcome))
        for name, (kind, reason) in PRUNED.items():
            self._add(name, g.counters[name], m.graph_pruned.labels(kind=kind, reason=reason))

    def _add(self, name: str, total: int, counter: Any) -> None:
        gained = total - self._exported[name]
        if gained > 0:
            counter.inc(gained)
        self._exported[name] = total

    def snapshot(self, offset: int) -> bool:
        """Fork a child that copies and writes the graph (or copy now and write in a thread);
        False when there is nothing new to save or a write is still running. Must run on
        the event loop, between two records."""
        self._due = self.clock() + self.interval
        busy = self._writing is not None and not self._writing.done()
        if busy or offset < self.skip_below or offset == self.snapshot_offset:
            return False
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        if self.fork:
            graph = self.graph
            wait = snapshots.fork_snapshot(lambda: capture(graph, offset), write, self.path)
            self._writing = loop.run_in_executor(None, self._finish, wait, offset)
        else:
            captured = capture(self.graph, offset)
            self._writing = loop.run_in_executor(None, self._write, captured, offset)
        took = time.perf_counter() - started
        self.metrics.graph_snapshot_seconds.labels(phase="capture").set(took)
        return True

    def _finish(self, wait: Callable[[], snapshots.Written], offset: int) -> None:
        """Wait for a forked snapshot (a worker thread; touches no graph)."""
        self._saved(snapshots.finish_snapshot(self.meters, wait, self.path, offset), offset)

    def _write(self, captured: dict[str, Any], offset: int) -> None:
        """The file half of a snapshot (a worker thread; touches no graph)."""
        self._saved(
            snapshots.write_snapshot(self.meters, write, captured, self.path, offset), offset
        )

    def _saved(self, written: bool, offset: int) -> None:
        if written:
            self.snapshot_offset, self.snapshot_at = offset, time.time()

    # -- start --------------------------------------------------------------------------------

    def restore(self) -> None:
        """Load the snapshot if there is a usable one (blocking: run it in a thread, before
        the first record). Never raises for a bad file: it is logged and ignored."""
        started = time.perf_counter()
        if self.graph.aspects is not None:  # load jieba's and lemminflect's lexicons here,
            self.graph.aspects("质量很好，物流很快", None)  # not at the first review
            self.graph.aspects("The battery is great.", None)
        for stale in self.path.parent.glob(f".{self.path.name}.*"):  # a write cut by a kill
            stale.unlink(missing_ok=True)
        if not self.path.exists():
            self._restored(None, 0, started, "no snapshot: the graph is built from the log")
            return
        try:
            g, offset = load(self.path)
        except Exception as exc:  # SnapshotError, or anything a damaged file may raise
            log.warning("graph snapshot ignored, the graph is rebuilt from the log: %s", exc)
            self._restored(None, 0, started, f"snapshot unreadable, ignored: {exc}")
            return
        if g.params() != self.graph.params():
            note = (
                f"snapshot made with other graph settings ({g.params()}), ignored: "
                "the graph is rebuilt from the log"
            )
            log.warning("%s: %s", self.path, note)
            self._restored(None, 0, started, note)
            return
        self.graph, self.skip_below = g, offset
        self.snapshot_offset, self.snapshot_at = offset, self.path.stat().st_mtime
        self._exported.update({name: g.counters[name] for name in PRUNED})
        self._restored(self.path, offset, started, "loaded")
        log.info(
            "graph restored from %s: offset %d, %d edges, in %.2f s",
            self.path,
            offset,
            g.n_edges,
            self.restored["seconds"],
        )

    def _restored(self, path: Path | None, offset: int, started: float, note: str) -> None:
        took = round(time.perf_counter() - started, 3)
        self.restored = {"snapshot": path and str(path), "offset": offset, "seconds": took}
        self.restored["note"] = note

    def check_log(self, end: int) -> None:
        """Before the first record: a snapshot ahead of the log's ``end`` offset belongs to
        another log (the topic was recreated): drop it and rebuild the graph."""
        if end >= self.skip_below:
            return
        note = f"snapshot at offset {self.skip_below} is past the log's end ({end}), ignored"
        log.warning("%s: %s; the graph is rebuilt from the log", self.path, note)
        self.graph, self.skip_below = new_graph(self.settings), 0
        self.snapshot_offset = None
        self._exported.update(dict.fromkeys(PRUNED, 0))
        self.restored = {"snapshot": None, "offset": 0, "seconds": 0.0, "note": note}

    # -- answers ------------------------------------------------------------------------------

    def stats(self, offset: int, with_digest: bool = False) -> dict[str, Any]:
        """:func:`graph.queries.stats` with the log offset, restore and snapshot state, and
        the content digest when asked (O(E log E): ~1 s per million edges, cached)."""
        answer = stats(self.graph)
        answer |= {"offset": offset, "restored": self.restored}
        answer["snapshot"] = {
            "path": str(self.path),
            "interval": self.interval,
            "offset": self.snapshot_offset,
            "at": self.snapshot_at,
        }
        if with_digest:
            key = (offset, self.graph.counters["applied"])
            if self._digest is None or self._digest[0] != key:
                self._digest = (key, digest(self.graph))
            answer["digest"] = self._digest[1]
        return answer
