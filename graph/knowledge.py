"""The knowledge graph: one ``apply(record)`` per feedback-log record, and nothing else changes it.

A record is the feedback log's value as a dict (``streams.processor.feedback_record``):
``{"topic": "clicks" | "sales" | "reviews" | "products", "event": {...}, "sentiment"?: {...},
"aspects"?: [...]}``.

- a click: ``viewed`` (view +1, favourite +2) or ``carted`` (add +1, remove -1) from the
  user to the product, and ``co_viewed`` with the user's last ``co_recent`` viewed
  products seen within ``co_window`` seconds;
- a sale: ``bought`` (its ``quantity`` summed) and ``co_bought`` likewise;
- a review: ``reviewed`` (sentiment summed, latest rating) and ``has_aspect`` from the
  product to each aspect of its text (mentions, sentiment sum, positive and negative
  mentions), the sentiment being the record's score or the rating's (:mod:`graph.aspects`).
  The aspects are the record's own when it carries them (the worker that scored the review
  extracted them once, with the same :func:`~graph.aspects.extract_aspects`), else
  extracted here from the text; so is each aspect's sentiment, when the record carries
  ``aspect_scores`` (the score of the clause naming each aspect: "great screen, but the
  battery dies" praises the screen and blames the battery);
- any event with a ``category_id``: ``in_category`` from the product to the category.

Everything is a function of the records and their order: event times drive
decay (``half_life``), pruning runs at fixed record counts, and a repeated
``event_id`` among the last ``dedup_ids`` is skipped, so replicas that applied the
same log prefix hold the same graph (:func:`graph.persist.digest`).

>>> g = KnowledgeGraph(half_life=None)
>>> g.apply({"topic": "sales", "event": {"event_id": "s1", "ts": 1e9, "user_id": "u1",
...          "product_id": "p1", "quantity": 2, "category_id": "c1"}})
True
>>> g.apply({"topic": "reviews", "event": {"event_id": "r1", "ts": 1e9 + 1, "user_id": "u1",
...          "product_id": "p1", "text": "The battery is great.", "rating": 5},
...          "sentiment": {"score": 0.9, "label": "positive", "confidence": 0.95,
...                        "model_version": "m1"}})
True
>>> g.n_nodes, g.n_edges, g.counters["applied"]
(4, 4, 2)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from graph import bounds
from graph.aspects import MAX_ASPECTS, Extractor, extract_aspects, review_sentiment
from graph.exceptions import InvalidEventError, InvalidParameterError
from graph.schema import (
    ASPECT,
    BOUGHT,
    CARTED,
    CATEGORY,
    CO_BOUGHT,
    CO_VIEWED,
    HAS_ASPECT,
    IN_CATEGORY,
    PRODUCT,
    REVIEWED,
    USER,
    VIEWED,
)
from graph.store import GraphStore

#: Longest aspect name taken from a record (a longer one: the text's aspects are extracted).
MAX_CARRIED_CHARS = 100
#: Edge type and weight increment of each click action.
CLICKS = {
    "view": (VIEWED, 1.0),
    "favorite": (VIEWED, 2.0),
    "add_to_cart": (CARTED, 1.0),
    "remove_from_cart": (CARTED, -1.0),
}
#: A mention whose sentiment is above this is positive, below minus this negative.
POLARITY = 0.05
#: Most adjacency entries looked back through for co-view / co-purchase partners, per partner.
CO_SCAN = 4
#: Most nodes or edges (ids must fit the 29 bits that snapshots pack them in).
MAX_IDS = 1 << 28
#: Counters kept in :attr:`KnowledgeGraph.counters` (cumulative, for ``_total`` metrics).
COUNTERS = (
    "applied",
    "duplicates",
    "aspect_mentions",
    "pruned_edges_weak",
    "pruned_edges_cap",
    "pruned_nodes_bare",
    "pruned_nodes_cap",
    "prune_runs",
)


class KnowledgeGraph(GraphStore):
    """Users, products, categories and aspects; see the module docstring for the rules."""

    def __init__(
        self,
        half_life: float | None = 7 * 86_400.0,
        min_weight: float = 0.05,
        max_edges: int = 2_000_000,
        max_nodes: int = 1_000_000,
        max_bytes: int | None = None,
        prune_every: int = 100_000,
        co_window: float = 3_600.0,
        co_recent: int = 4,
        dedup_ids: int = 100_000,
        aspects: Extractor | None = extract_aspects,
        max_aspects: int = MAX_ASPECTS,
    ):
        _check(half_life, min_weight, max_edges, max_nodes, max_bytes, prune_every)
        _check_counts(co_window=co_window, co_recent=co_recent, dedup_ids=dedup_ids)
        if max_bytes is not None and max_bytes < bounds.dedup_bytes(dedup_ids) + 1_000_000:
            raise InvalidParameterError(
                f"max_bytes ({max_bytes}) must exceed the dedup window of {dedup_ids} ids "
                f"(~{bounds.dedup_bytes(dedup_ids)} bytes) by at least 1,000,000"
            )
        super().__init__(half_life)
        self.min_weight = min_weight
        self.max_edges, self.max_nodes, self.max_bytes = max_edges, max_nodes, max_bytes
        #: Edges allowed now: ``max_edges``, or fewer when ``max_bytes`` says so (graph.bounds).
        self.edge_cap = max_edges
        self.prune_every = prune_every
        #: The applied-record count of the next ``max_bytes`` check (graph.bounds.enforce_bytes).
        # checked after the first record, which schedules the next check (bounds.room)
        self.bytes_check_at = 0 if max_bytes else bounds.NEVER
        self.co_window, self.co_recent = co_window, co_recent
        self.dedup_ids = dedup_ids
        self.aspects, self.max_aspects = aspects, max_aspects
        self.counters = dict.fromkeys(COUNTERS, 0)
        self._recent: deque[str] = deque()
        self._recent_set: set[str] = set()
        self.id_bytes = 0  # sys.getsizeof of the event ids remembered
        self._handlers: dict[str, Callable[[dict[str, Any], Mapping[str, Any], float], None]] = {
            "clicks": self._click,
            "sales": self._sale,
            "reviews": self._review,
            "products": self._product,
        }

    def params(self) -> dict[str, Any]:
        """Constructor arguments (but the extractor), as snapshots store them."""
        names = "half_life min_weight max_edges max_nodes max_bytes prune_every co_window"
        names += " co_recent dedup_ids max_aspects"
        return {name: getattr(self, name) for name in names.split()}

    def apply(self, record: Mapping[str, Any]) -> bool:
        """Apply one feedback record; False for a repeated event id.

        Raises :class:`InvalidEventError` (the graph unchanged) for a record it cannot read.
        """
        try:
            handler = self._handlers[record["topic"]]
            event = record["event"]
            event_id, ts = event["event_id"], event["ts"]
        except (KeyError, TypeError) as exc:
            raise InvalidEventError(f"not a feedback record ({exc!r})") from None
        if type(ts) is not float and (type(ts) is not int) or not math.isfinite(ts):
            raise InvalidEventError(f"event {event_id!r}: ts must be a finite number")
        if event_id in self._recent_set:
            self.counters["duplicates"] += 1
            return False
        try:
            handler(event, record, float(ts))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidEventError(f"event {event_id!r} not applied ({exc!r})") from None
        if self.dedup_ids:
            self._remember(str(event_id))
        counters = self.counters
        applied = counters["applied"] = counters["applied"] + 1
        if (
            len(self._edges) > self.edge_cap
            or len(self._names) - len(self._free_nodes) > self.max_nodes
            or applied % self.prune_every == 0
            or applied >= self.bytes_check_at
        ):
            bounds.after_event(self)
        return True

    def _remember(self, event_id: str) -> None:
        self._recent.append(event_id)
        self._recent_set.add(event_id)
        self.id_bytes += len(event_id) + 49
        if len(self._recent) > self.dedup_ids:
            old = self._recent.popleft()
            self._recent_set.discard(old)
            self.id_bytes -= len(old) + 49

    # -- one handler per topic: read every field first, then change the graph ----------------

    def _click(self, event: dict[str, Any], record: Mapping[str, Any], ts: float) -> None:
        user, product = str(event["user_id"]), str(event["product_id"])
        etype, inc = CLICKS[event["action"]]
        category = event.get("category_id")
        scale = self.advance(ts)
        u, p = self._pair(user, product)
        if etype == VIEWED:
            self._co(u, p, VIEWED, CO_VIEWED, ts, scale)
        self.touch(etype, u, p, ts, inc * scale)
        self._category(p, category, ts, scale)

    def _sale(self, event: dict[str, Any], record: Mapping[str, Any], ts: float) -> None:
        user, product = str(event["user_id"]), str(event["product_id"])
        quantity = float(event.get("quantity", 1))
        category = event.get("category_id")
        scale = self.advance(ts)
        u, p = self._pair(user, product)
        self._co(u, p, BOUGHT, CO_BOUGHT, ts, scale)
        e = self.touch(BOUGHT, u, p, ts, scale)
        self._val[e] += quantity
        self._category(p, category, ts, scale)

    def _review(self, event: dict[str, Any], record: Mapping[str, Any], ts: float) -> None:
        user, product, text = str(event["user_id"]), str(event["product_id"]), event["text"]
        rating, category = event.get("rating"), event.get("category_id")
        score = review_sentiment(record.get("sentiment"), rating)
        found, from_record = self._aspects(text, event.get("lang"), record.get("aspects"))
        scores = None
        if found and from_record:  # the clauses' scores go with the record's aspects
            scores = _scores(record.get("aspect_scores"), len(found))
        scale = self.advance(ts)
        u, p = self.node(USER, user), self.node(PRODUCT, product)
        e = self.touch(REVIEWED, u, p, ts, scale)
        if score is not None:
            self._val[e] += score
        if rating is not None:
            self._a[e] = float(rating)
        for i, aspect in enumerate(found):
            own = None if scores is None else scores[i]
            self._mention(p, aspect, score if own is None else own, ts, scale)
        self._category(p, category, ts, scale)

    def _aspects(self, text: str, lang: str | None, carried: Any) -> tuple[list[str], bool]:
        """A review's aspects, at most ``max_aspects``, and whether they are the record's:
        those it carries when this graph extracts as the worker that wrote it does
        (:func:`~graph.aspects.extract_aspects`) and it holds a list of names, else
        extracted from ``text``."""
        if self.aspects is None:
            return [], False
        if (
            self.aspects is extract_aspects
            and type(carried) is list
            and all(type(a) is str and 0 < len(a) <= MAX_CARRIED_CHARS for a in carried)
        ):
            return carried[: self.max_aspects], True
        return [aspect for aspect, _ in self.aspects(text, lang)[: self.max_aspects]], False

    def _pair(self, user: str, product: str) -> tuple[int, int]:
        """Ids of the user and product nodes, created when new (inlined: the hot path)."""
        ids = self._ids
        u, p = ids[USER].get(user), ids[PRODUCT].get(product)
        if u is None:
            u = self._new_node(USER, user)
        if p is None:
            p = self._new_node(PRODUCT, product)
        return u, p

    def _product(self, event: dict[str, Any], record: Mapping[str, Any], ts: float) -> None:
        product, category = str(event["product_id"]), event.get("category_id")
        scale = self.advance(ts)
        if category is not None:
            self._category(self.node(PRODUCT, product), category, ts, scale)

    def _category(self, p: int, category: Any, ts: float, scale: float) -> None:
        if category is not None:
            self.touch(IN_CATEGORY, p, self.node(CATEGORY, str(category)), ts, scale)

    def _mention(self, p: int, aspect: str, score: float | None, ts: float, scale: float) -> None:
        e = self.touch(HAS_ASPECT, p, self.node(ASPECT, aspect), ts, scale)
        self.counters["aspect_mentions"] += 1
        if score is None:
            return
        self._val[e] += score
        if score > POLARITY:
            self._a[e] += 1.0
        elif score < -POLARITY:
            self._b[e] += 1.0

    def _co(self, u: int, p: int, etype: int, co_type: int, ts: float, scale: float) -> None:
        """Link ``p`` to the user's latest other ``etype`` products within ``co_window``."""
        adj, types, dst, last = self._adj[u], self._type, self._dst, self._ts
        horizon, found = ts - self.co_window, 0
        i = len(adj) - 1
        stop = max(-1, i - CO_SCAN * self.co_recent)
        while i > stop and found < self.co_recent:
            e = adj[i]
            i -= 1
            if types[e] == etype and dst[e] != p and last[e] >= horizon:
                self.touch(co_type, p, dst[e], ts, scale)
                found += 1


def _scores(carried: Any, n: int) -> list[float | None] | None:
    """The first ``n`` carried clause scores, when the record holds at least ``n`` of them,
    each a number in [-1, 1] or null (that aspect takes the review's score); else None
    (the review's score for every aspect).

    >>> _scores([0.5, -0.75, None], 2), _scores([0.5], 2), _scores([2.0], 1), _scores("x", 1)
    ([0.5, -0.75], None, None, None)
    """
    if type(carried) is not list or len(carried) < n:
        return None
    scores = carried[:n]
    for value in scores:
        if value is not None and (type(value) not in (int, float) or not -1.0 <= value <= 1.0):
            return None
    return [None if v is None else float(v) for v in scores]


def _check(
    half_life: float | None,
    min_weight: float,
    max_edges: int,
    max_nodes: int,
    max_bytes: int | None,
    prune_every: int,
) -> None:
    if half_life is not None and not (half_life > 0 and math.isfinite(half_life)):
        raise InvalidParameterError(f"half_life must be positive seconds or None, not {half_life}")
    if not (min_weight >= 0 and math.isfinite(min_weight)):
        raise InvalidParameterError(f"min_weight must be >= 0, not {min_weight}")
    for name, value in (("max_edges", max_edges), ("max_nodes", max_nodes)):
        if not 10 <= value <= MAX_IDS:
            raise InvalidParameterError(f"{name} must be in [10, {MAX_IDS}], not {value}")
    if max_bytes is not None and max_bytes < 1_000_000:
        raise InvalidParameterError(f"max_bytes must be at least 1,000,000, not {max_bytes}")
    if prune_every < 1:
        raise InvalidParameterError(f"prune_every must be at least 1, not {prune_every}")


def _check_counts(**values: float) -> None:
    for name, value in values.items():
        if not (value >= 0 and math.isfinite(value)):
            raise InvalidParameterError(f"{name} must be >= 0, not {value}")
