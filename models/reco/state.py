"""Snapshots of a :class:`~models.reco.hybrid.Recommender` as JSON-able dicts, and digests.

No pickle: :func:`to_state` gives plain dicts, lists and numbers (numpy rows as lists of
floats, which JSON carries exactly), :func:`from_state` rebuilds a recommender that
goes on exactly as the original would. A graph the recommender owns is saved apart,
by :func:`graph.persist.snapshot`, and passed back to :func:`from_state`; a shared
graph belongs to the worker's graph replica. :func:`digest` hashes the state (and an
owned graph's :func:`graph.persist.digest`), so two replicas can be compared. Users
and items are listed in their eviction order (least recently active first), which is
part of the state; the item -> users index is rebuilt from the seen sets.

>>> from models.reco.hybrid import Recommender
>>> rec = Recommender()
>>> _ = rec.learn({"topic": "sales", "event": {"event_id": "s1", "ts": 1e9, "user_id": "u",
...                "product_id": "p", "category_id": "c"}})
>>> copy = from_state(orjson.loads(orjson.dumps(to_state(rec))), graph=rec.graph)
>>> digest(copy) == digest(rec)
True
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from graph.knowledge import KnowledgeGraph
from graph.persist import digest as graph_digest
from models.exceptions import InvalidStateError
from models.popularity import DecayedPopularity
from models.reco.blend import LearnedWeights
from models.reco.cooc import ItemCooccurrence
from models.reco.hybrid import Recommender
from models.reco.mf import BPRMF, BiasedMF

#: 2: bounds (``max_users``, ``max_items``, the recency orders; factor tables count
#: created rows instead of a capacity). 3: blend weights learned on the stream.
STATE_VERSION = 3


def to_state(rec: Recommender) -> dict[str, Any]:
    """Everything but the graph, as JSON-able values."""
    return {
        "version": STATE_VERSION,
        "params": {
            "weights": dict(rec.initial_weights),
            "half_life": rec.half_life,
            "n_candidates": rec.n_candidates,
            "exclude_seen": rec.exclude_seen,
            "seed": rec.seed,
            "dedup_ids": rec.dedup_ids,
            "walk_beta": rec.walk_beta,
            "max_users": rec.max_users,
            "max_items": rec.max_items,
            "learn_weights": rec.learn_weights,
        },
        "weights": dict(rec.weights),
        "learner": None if rec.learner is None else rec.learner.to_state(),
        "owns_graph": rec.owns_graph,
        "popular": rec.popular.to_state(),
        "cooc": rec.cooc.to_state(),
        "mf": rec.mf.to_state(),
        "rating": rec.rating.to_state(),
        "seen": [[user, sorted(items)] for user, items in rec.seen.items()],
        "items": list(rec.holders),
        "last_category": dict(rec.last_category),
        "category": dict(rec.category),
        "out_of_stock": sorted(rec.out_of_stock),
        "recent_ids": list(rec.recent_ids),
    }


def from_state(state: dict[str, Any], graph: KnowledgeGraph | None = None) -> Recommender:
    """The recommender :func:`to_state` described, with ``graph`` (its own, restored from
    its snapshot, or the shared one)."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise InvalidStateError(f"not a version {STATE_VERSION} recommender state")
    try:
        rec = Recommender(**state["params"], graph=graph)
        rec.owns_graph = bool(state["owns_graph"])
        rec.weights = {str(s): float(w) for s, w in state["weights"].items()}
        if state["learner"] is not None:
            rec.learner = LearnedWeights.from_state(state["learner"])
        rec.popular = DecayedPopularity.from_state(state["popular"])
        rec.cooc = ItemCooccurrence.from_state(state["cooc"])
        rec.mf = BPRMF.from_state(state["mf"])
        rec.rating = BiasedMF.from_state(state["rating"])
        _restore_orders(rec, state["seen"], state["items"])
        rec.last_category = dict(state["last_category"])
        rec.category = dict(state["category"])
        rec.out_of_stock = set(state["out_of_stock"])
        rec.recent_ids.extend(state["recent_ids"])
        rec._recent_set.update(state["recent_ids"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidStateError(f"malformed recommender state: {exc!r}") from exc
    return rec


def _restore_orders(rec: Recommender, seen: list[Any], items: list[Any]) -> None:
    """``seen`` and ``holders`` (its transpose) in their saved recency orders."""
    rec.holders.update((str(item), {}) for item in items)
    for user, user_items in seen:
        rec.seen[str(user)] = set(user_items)
        for item in user_items:
            rec.holders[item][str(user)] = None
    if len(rec.seen) != len(seen) or len(rec.holders) != len(items):
        raise ValueError("users or items listed twice")


def digest(rec: Recommender) -> str:
    """SHA-256 of the state (keys sorted), and of the graph's content when the recommender
    owns it."""
    h = hashlib.sha256(orjson.dumps(to_state(rec), option=orjson.OPT_SORT_KEYS))
    if rec.owns_graph:
        h.update(graph_digest(rec.graph).encode())
    return h.hexdigest()
