"""This worker's hybrid recommender: feedback records in; answers, metrics and snapshots out.

:class:`RecoReplica` wraps a :class:`models.reco.Recommender` for the feedback replica
(:mod:`streams.replica`), as :mod:`streams.graph_replica` wraps the graph:

- **Graph**: the recommender shares the worker's :class:`graph.KnowledgeGraph` (its walk
  source reads it; the graph replica alone applies records to it). With the graph off
  (``PULSE_GRAPH_ENABLED=false``) the walk source is off too.
- **Prequential quality**: before a record is learned, every ``PULSE_RECO_EVAL_EVERY``-th
  interaction of a known user with an item new to them is scored: was the item in the
  hybrid's top 10 for that user, and in the popularity model's?
  (``pulse_reco_prequential_{hits,evaluations}_total{model}``).
- **Snapshots**: every ``PULSE_RECO_SNAPSHOT_INTERVAL`` seconds, between two batches, the
  state is captured on the event loop and written in a thread
  (:func:`models.reco.persist.write`), with the next log offset.
- **Restore**: a snapshot made with the same parameters and not ahead of the log is
  loaded; records below its offset skip the recommender. Its offset need not be the
  graph's: learning never reads the graph (only ``recommend`` does), so each model holds
  exactly the log prefix below the replica's offset once it has caught up, whichever
  snapshot each started from.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from graph import KnowledgeGraph
from models.exceptions import InvalidInputError
from models.popularity import DecayedPopularity
from models.reco import Recommender
from models.reco.events import Interaction, to_interaction
from models.reco.hybrid import DEFAULT_WEIGHTS
from models.reco.persist import capture, load, write
from models.reco.state import digest, to_state
from streams import snapshots
from streams.graph_replica import GraphReplica
from streams.metrics import Metrics
from streams.settings import Settings

log = logging.getLogger(__name__)

OUTCOMES = ("learned", "duplicate", "invalid", "skipped")
MODELS = ("hybrid", "popularity")
#: Prequential HR@K.
EVAL_K = 10
#: Users whose user_top_recommendations fact is cached (oldest forgotten first).
FACT_USERS = 10_000


def new_recommender(settings: Settings, graph: KnowledgeGraph | None) -> Recommender:
    """An empty recommender with the worker's parameters, reading ``graph`` (None: no walks)."""
    rec = Recommender(
        weights={**DEFAULT_WEIGHTS, "walk": 0.0} if graph is None else None,
        half_life=settings.reco_half_life,
        seed=settings.reco_seed,
        max_users=settings.reco_max_users,
        max_items=settings.reco_max_items,
        graph=graph if graph is not None else KnowledgeGraph(aspects=None, dedup_ids=0),
        dedup_ids=0,  # the feedback replica drops repeated event ids (a larger window)
    )
    return rec


class RecoReplica:
    """One worker's hybrid recommender, its snapshots, evaluation and metrics."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        topic: str,
        graph: GraphReplica | None,
        popularity: DecayedPopularity,
    ):
        self.settings, self.metrics = settings, metrics
        self.graph_replica, self.popularity = graph, popularity
        self.rec = new_recommender(settings, self._graph())
        self.interval = settings.reco_snapshot_interval
        #: Snapshot in a forked child (:mod:`streams.snapshots`), or copy in a thread.
        self.fork = settings.snapshot_fork and snapshots.can_fork()
        self.meters = snapshots.Meters(
            "recommender",
            metrics.reco_snapshot_seconds,
            metrics.reco_snapshots,
            metrics.reco_snapshot_bytes,
        )
        self.eval_every = settings.reco_eval_every
        self.facts_ttl = settings.reco_facts_ttl
        self.path = settings.reco_folder() / f"{topic}.snap"
        self.skip_below = 0
        self.restored: dict[str, Any] = {"snapshot": None, "offset": 0, "note": "not yet"}
        self.snapshot_offset: int | None = None
        self.snapshot_at: float | None = None
        self.clock = time.monotonic
        self._due = self.clock() + self.interval
        self._writing: asyncio.Future[None] | Future[None] | None = None
        self._captured: asyncio.Future[None] | None = None
        self._outcomes = dict.fromkeys(OUTCOMES, 0)
        self._exported = dict.fromkeys(OUTCOMES, 0)
        self._eligible = 0
        self._facts: OrderedDict[str, tuple[float, int, list[str]]] = OrderedDict()
        self._digest: tuple[tuple[int, int], str] | None = None
        for outcome in OUTCOMES:
            metrics.reco_records.labels(outcome=outcome)
        for model in MODELS:
            metrics.reco_prequential_hits.labels(model=model)
            metrics.reco_prequential_evaluations.labels(model=model)
        for outcome in ("written", "failed"):
            metrics.reco_snapshots.labels(outcome=outcome)
        for phase in ("capture", "write"):
            metrics.reco_snapshot_seconds.labels(phase=phase)
        for caller in ("view", "facts", "evaluation"):
            metrics.reco_recommend_seconds.labels(caller=caller)

    def _graph(self) -> KnowledgeGraph | None:
        """The graph replica's graph now (a restore or a rebuild replaces the object)."""
        return self.graph_replica.graph if self.graph_replica is not None else None

    def _sync(self) -> Recommender:
        graph = self._graph()
        if graph is not None:
            self.rec.graph = graph
        return self.rec

    # -- the hot path -------------------------------------------------------------------------

    def learn(self, record: dict[str, Any], offset: int) -> None:
        """Score (when sampled), then learn one record new to the replica, at ``offset``."""
        if offset < self.skip_below:
            self._outcomes["skipped"] += 1
            return
        try:
            x = to_interaction(record)  # read once: the evaluation and the learning share it
        except InvalidInputError as exc:
            self._invalid(offset, exc)
            return
        if self.eval_every and x is not None:
            self._evaluate(x)
        try:
            learned = self.rec.learn_read(record, x)
        except (InvalidInputError, ValueError, TypeError) as exc:
            self._invalid(offset, exc)
            return
        self._outcomes["learned" if learned else "duplicate"] += 1

    def _invalid(self, offset: int, exc: Exception) -> None:
        log.debug("feedback record at offset %d not learned by the recommender: %s", offset, exc)
        self._outcomes["invalid"] += 1

    def _evaluate(self, x: Interaction) -> None:
        """Test then train: was the item in each model's top ``EVAL_K`` for the user?"""
        seen = self.rec.seen.get(x.user)
        if not seen or x.item in seen:
            return
        self._eligible += 1
        if self._eligible % self.eval_every:
            return
        m = self.metrics
        started = time.perf_counter()
        hybrid = self.recommend(x.user, EVAL_K, caller=None)
        m.reco_recommend_seconds.labels(caller="evaluation").observe(time.perf_counter() - started)
        popular = self._popular(x.user, seen)
        for model, items in (
            ("hybrid", [r["product_id"] for r in hybrid]),
            ("popularity", popular),
        ):
            m.reco_prequential_evaluations.labels(model=model).inc()
            if x.item in items:
                m.reco_prequential_hits.labels(model=model).inc()

    def _popular(self, user: str, seen: Collection[str]) -> list[str]:
        """The popularity model's top ``EVAL_K`` for ``user`` without ``seen``, asked for
        more until enough are left (a ``rank(exclude=seen)`` sorts every item)."""
        m = 2 * EVAL_K
        while True:
            ranked = self.popularity.rank(user, m)
            kept = [item for item, _ in ranked if item not in seen]
            if len(kept) >= EVAL_K or len(ranked) < m:
                return kept[:EVAL_K]
            m *= 4

    # -- answers ------------------------------------------------------------------------------

    def recommend(
        self,
        user: str,
        k: int,
        exclude_categories: Collection[str] = (),
        caller: str | None = "view",
    ) -> list[dict[str, Any]]:
        """The hybrid's ``k`` best for ``user`` (never bought, seen or out of stock)."""
        started = time.perf_counter()
        items = self._sync().recommend(user, k, exclude_categories=exclude_categories)
        if caller is not None:
            took = time.perf_counter() - started
            self.metrics.reco_recommend_seconds.labels(caller=caller).observe(took)
        return items

    def top_items(self, user: str, k: int) -> list[str]:
        """The user's top ``k`` product ids for the rules, reused for ``facts_ttl`` s."""
        now = self.clock()
        cached = self._facts.get(user)
        if cached is not None and now - cached[0] < self.facts_ttl and cached[1] >= k:
            return cached[2][:k]
        items = [r["product_id"] for r in self.recommend(user, k, caller="facts")]
        if self.facts_ttl:
            self._facts[user] = (now, k, items)
            self._facts.move_to_end(user)
            if len(self._facts) > FACT_USERS:
                self._facts.popitem(last=False)
        return items

    # -- between batches ----------------------------------------------------------------------

    def after_batch(self, offset: int) -> None:
        """Export metrics, and snapshot when due; ``offset``: the next record to learn."""
        self.export()
        if self.interval and self.clock() >= self._due:
            self.snapshot(offset)

    def export(self) -> None:
        """Counters gained since the last export; sizes of the state."""
        m, rec = self.metrics, self.rec
        for outcome in OUTCOMES:
            gained = self._outcomes[outcome] - self._exported[outcome]
            if gained > 0:
                m.reco_records.labels(outcome=outcome).inc(gained)
            self._exported[outcome] = self._outcomes[outcome]
        m.reco_size.labels(kind="users").set(len(rec.seen))
        m.reco_size.labels(kind="items").set(len(rec.cooc.mass))
        m.reco_size.labels(kind="factor_rows").set(len(rec.mf.users.ids) + len(rec.mf.items.ids))

    def snapshot(self, offset: int) -> bool:
        """Fork a child that copies and writes the recommender (:mod:`streams.snapshots`);
        False when there is nothing new to save or a write is still running. Called
        between two batches. Without a fork, the copy is made in a thread and the replica
        learns nothing until it is done (:meth:`capturing`), while views and rules, which
        only read, go on (a full copy took 3.4 s at 117k users and 151k items)."""
        self._due = self.clock() + self.interval
        busy = self._writing is not None and not self._writing.done()
        if busy or offset < self.skip_below or offset == self.snapshot_offset:
            return False
        loop = asyncio.get_running_loop()
        if self.fork:
            started = time.perf_counter()
            rec = self.rec
            wait = snapshots.fork_snapshot(lambda: capture(rec, offset), write, self.path)
            took = time.perf_counter() - started
            self.metrics.reco_snapshot_seconds.labels(phase="capture").set(took)
            self._writing = loop.run_in_executor(None, self._finish, wait, offset)
            return True
        self._captured = loop.create_future()
        self._writing = loop.run_in_executor(None, self._snapshot, offset, loop, self._captured)
        return True

    def _finish(self, wait: Callable[[], snapshots.Written], offset: int) -> None:
        """Wait for a forked snapshot (a worker thread; touches no recommender)."""
        self._saved(snapshots.finish_snapshot(self.meters, wait, self.path, offset), offset)

    async def capturing(self) -> None:
        """Until a running capture is done (the replica awaits it before learning more)."""
        if self._captured is not None and not self._captured.done():
            await self._captured

    def _snapshot(
        self, offset: int, loop: asyncio.AbstractEventLoop, captured: asyncio.Future[None]
    ) -> None:
        """A worker thread: copy the state (nothing learns meanwhile), then write it."""
        started = time.perf_counter()
        try:
            state = capture(self.rec, offset)
        except Exception:  # never stop the replica for a snapshot
            log.exception("recommender snapshot at offset %d not captured", offset)
            self.metrics.reco_snapshots.labels(outcome="failed").inc()
            return
        finally:
            loop.call_soon_threadsafe(_done, captured)
        took = time.perf_counter() - started
        self.metrics.reco_snapshot_seconds.labels(phase="capture").set(took)
        self._write(state, offset)

    def _write(self, captured: dict[str, Any], offset: int) -> None:
        """The file half of a snapshot (touches no recommender)."""
        self._saved(
            snapshots.write_snapshot(self.meters, write, captured, self.path, offset), offset
        )

    def _saved(self, written: bool, offset: int) -> None:
        if written:
            self.snapshot_offset, self.snapshot_at = offset, time.time()

    # -- start --------------------------------------------------------------------------------

    def restore(self) -> None:
        """Load the snapshot if there is a usable one (blocking: run it in a thread, before
        the first record, after the graph's restore). A bad file is logged and ignored."""
        started = time.perf_counter()
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp"):  # a write cut by a kill
            stale.unlink(missing_ok=True)
        if not self.path.exists():
            self._restored(None, 0, started, "no snapshot: the recommender learns from the log")
            return
        try:
            rec, offset = load(self.path, graph=self._sync().graph)
        except Exception as exc:  # InvalidStateError, or anything a damaged file may raise
            log.warning("recommender snapshot ignored, it learns from the log: %s", exc)
            self._restored(None, 0, started, f"snapshot unreadable, ignored: {exc}")
            return
        ours, theirs = to_state(self.rec)["params"], to_state(rec)["params"]
        if ours != theirs or rec.owns_graph != self.rec.owns_graph:
            note = f"snapshot made with other recommender settings ({theirs}), ignored"
            log.warning("%s: %s: it learns from the log", self.path, note)
            self._restored(None, 0, started, note)
            return
        self.rec, self.skip_below = rec, offset
        self.snapshot_offset, self.snapshot_at = offset, self.path.stat().st_mtime
        self._restored(self.path, offset, started, "loaded")
        log.info("recommender restored from %s: offset %d", self.path, offset)

    def _restored(self, path: Path | None, offset: int, started: float, note: str) -> None:
        took = round(time.perf_counter() - started, 3)
        self.restored = {"snapshot": path and str(path), "offset": offset, "seconds": took}
        self.restored["note"] = note

    def check_log(self, end: int) -> None:
        """Before the first record: a snapshot past the log's ``end`` is another log's."""
        if end >= self.skip_below:
            return
        note = f"snapshot at offset {self.skip_below} is past the log's end ({end}), ignored"
        log.warning("%s: %s; the recommender learns from the log", self.path, note)
        self.rec, self.skip_below = new_recommender(self.settings, self._graph()), 0
        self.snapshot_offset = None
        self.restored = {"snapshot": None, "offset": 0, "seconds": 0.0, "note": note}

    def stats(self, offset: int, with_digest: bool = False) -> dict[str, Any]:
        """Sizes, weights, restore and snapshot state, and the state digest when asked."""
        rec = self.rec
        answer: dict[str, Any] = {
            "offset": offset,
            "users": len(rec.seen),
            "items": len(rec.cooc.mass),
            "weights": dict(rec.weights),
            "records": dict(self._outcomes),
            "restored": self.restored,
            "snapshot": {
                "path": str(self.path),
                "interval": self.interval,
                "offset": self.snapshot_offset,
                "at": self.snapshot_at,
            },
        }
        if with_digest:
            key = (offset, self._outcomes["learned"])
            if self._digest is None or self._digest[0] != key:
                self._digest = (key, digest(rec))
            answer["digest"] = self._digest[1]
        return answer


def _done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
