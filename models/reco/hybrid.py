"""The hybrid recommender: every model learns each feedback record; answers blend their lists.

Sources (each a river-style model with ``learn_one`` and ``rank``):

- ``cooc``: :class:`~models.reco.cooc.ItemCooccurrence` ("bought together with X");
- ``walk``: RP3beta random walks on the knowledge graph (:func:`graph.walk.random_walk`),
  over a graph the recommender owns or one shared with the worker's graph replica;
- ``mf``: :class:`~models.reco.mf.BPRMF` on graded feedback (view < cart < purchase);
- ``popular`` / ``popular_category``: :class:`models.popularity.DecayedPopularity`,
  overall and in the user's latest category (cold start: a new user gets these only).

:class:`~models.reco.mf.BiasedMF` learns explicit ratings (reviews) for
:meth:`Recommender.predict_rating`. Filters: already bought (always), already seen
(``exclude_seen``), out of stock (stock 0 in a product record, or the ``in_stock``
callable), excluded categories. Everything depends on the records and their order
only, so replicas given the same log agree (:func:`models.reco.state.digest`).

Blend weights: learned on the stream (``learn_weights``, the default): at sampled
interactions of a known user with an item new to them, every source's list is scored
against that item before it is learned (:class:`~models.reco.blend.LearnedWeights`), and
the weights follow each source's recent NDCG@10, starting from ``weights``. With
``learn_weights=False`` the weights stay as given.

Bounds: past ``max_users`` users (``max_items`` items) the one least recently active
(touched by a record), in log order, is forgotten by every model, references included,
in O(what it held); the walk then proposes only items held, to users held.

>>> rec = Recommender(seed=1)
>>> for n, (user, item, action) in enumerate([("a", "tent", "view"), ("a", "stove", "view"),
...         ("b", "tent", "view"), ("b", "stove", "add_to_cart"), ("c", "tent", "view")]):
...     _ = rec.learn({"topic": "clicks", "event": {"event_id": str(n), "ts": 1e9 + n,
...                    "user_id": user, "product_id": item, "action": action}})
>>> [(r["product_id"], r["reason"]) for r in rec.recommend("c", k=1)]
[('stove', 'often chosen together with tent')]
>>> [r["reason"] for r in rec.recommend("newcomer", k=2)]
['popular right now', 'popular right now']
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Mapping
from typing import Any

from graph.exceptions import InvalidEventError
from graph.knowledge import KnowledgeGraph
from graph.walk import random_walk
from models.exceptions import InvalidInputError, InvalidParameterError
from models.popularity import DecayedPopularity
from models.reco.blend import Candidates, LearnedWeights, blend
from models.reco.cooc import ItemCooccurrence
from models.reco.events import Interaction, to_interaction
from models.reco.mf import BPRMF, BiasedMF

SOURCES = ("cooc", "walk", "mf", "popular", "popular_category")
#: Blend weights before any are learned (and throughout with ``learn_weights=False``):
#: tuned (bench/reco.py, coordinate ascent on NDCG@10) on 2,000 targets of the first 30 %
#: of MovieLens 100K.
DEFAULT_WEIGHTS = {"cooc": 4.0, "walk": 0.5, "mf": 0.0, "popular": 0.5, "popular_category": 1.0}
#: Rating model: river's BiasedMF with per-row running-mean bias rates and a Huber loss
#: (chosen on the first 25,000 MovieLens 100K ratings; see docs/reco.md).
RATING_PARAMS: dict[str, Any] = {
    "lr_bias": 0.05,
    "lr_latent": 0.02,
    "bias_prior": 2.0,
    "huber": 1.0,
}


class Recommender:
    """Learns feedback records one by one; ``recommend(user, k)`` blends the sources."""

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        half_life: float | None = 7 * 86_400.0,
        n_candidates: int = 50,
        exclude_seen: bool = True,
        graph: KnowledgeGraph | None = None,
        seed: int = 0,
        dedup_ids: int = 100_000,
        walk_beta: float = 0.0,
        max_users: int = 200_000,
        max_items: int = 100_000,
        learn_weights: bool = True,
    ):
        for name, cap in (("max_users", max_users), ("max_items", max_items)):
            if not (isinstance(cap, int) and cap >= 1):
                raise InvalidParameterError(f"{name} must be an integer >= 1, got {cap!r}")
        self.max_users, self.max_items = max_users, max_items
        #: the weights given (the prior of learned ones); ``weights``: those used now
        self.initial_weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self.weights = dict(self.initial_weights)
        self.learn_weights = learn_weights
        self.learner = LearnedWeights(self.weights) if learn_weights else None
        self.half_life, self.n_candidates = half_life, n_candidates
        self.exclude_seen, self.seed, self.dedup_ids = exclude_seen, seed, dedup_ids
        self.walk_beta = walk_beta
        self.owns_graph = graph is None
        self.graph = KnowledgeGraph(half_life=half_life, aspects=None) if graph is None else graph
        pop_half_life = half_life if half_life is not None else 1e12
        self.popular = DecayedPopularity(pop_half_life, max_items=max_items, max_users=max_users)
        self.cooc = ItemCooccurrence(half_life=half_life)
        self.mf = BPRMF(seed=seed)
        self.rating = BiasedMF(clip=(1.0, 5.0), seed=seed + 7, **RATING_PARAMS)
        #: user -> items interacted with, least recently active user first (kept whether or
        #: not ``exclude_seen`` filters with it: the bounds need it).
        self.seen: OrderedDict[str, set[str]] = OrderedDict()
        #: item -> users who interacted with it (a dict used as a set: one of strings only
        #: is not tracked by the garbage collector), least recently touched item first.
        self.holders: OrderedDict[str, dict[str, None]] = OrderedDict()
        self.last_category: dict[str, str] = {}
        self.category: dict[str, str] = {}
        self.out_of_stock: set[str] = set()
        self.recent_ids: deque[str] = deque()
        self._recent_set: set[str] = set()

    def learn(self, record: dict[str, Any]) -> bool:
        """Learn one feedback-log record; False when its event id was learned recently.

        A record that cannot be read raises :class:`~models.exceptions.InvalidInputError`
        and changes nothing."""
        return self.learn_read(record, to_interaction(record))

    def learn_read(self, record: dict[str, Any], x: Interaction | None) -> bool:
        """:meth:`learn` with the record's interaction already read (``to_interaction``)."""
        try:
            event_id = str(record["event"]["event_id"])
            catalog = record["topic"] == "products"
            item = None if not catalog else str(record["event"]["product_id"])
        except (KeyError, TypeError) as exc:
            raise InvalidInputError(f"not a feedback record: {exc!r}") from exc
        if event_id in self._recent_set:
            return False
        if x is not None and self.learner is not None:
            self._sample(x.user, x.item)  # before any model, the graph included, learns it
        if self.owns_graph:
            try:
                self.graph.apply(record)
            except InvalidEventError as exc:
                raise InvalidInputError(str(exc)) from exc
        self._remember_id(event_id)
        if item is not None:
            self._catalog(item, record["event"])
        elif x is not None:
            self.learn_one(x.user, x.item, x.weight, x.ts, x.category, x.purchased, x.rating)
        return True

    def _sample(self, user: str, item: str) -> None:
        """Test then train: score every source's list for ``user`` against ``item`` when the
        weight learner samples this interaction, and take the weights it learned."""
        learner = self.learner
        past = self.seen.get(user)
        if learner is not None and past and item not in past and learner.due():
            lists, _ = self._gather(user, self.excluded(user), learner.k, SOURCES, False)
            learner.observe(lists, item)
            self.weights = learner.weights()

    def learn_one(
        self,
        user: str,
        item: str,
        weight: float,
        ts: float,
        category: str | None = None,
        purchased: bool = False,
        rating: float | None = None,
    ) -> None:
        """Every model learns the interaction (the graph and the blend weights only through
        :meth:`learn`)."""
        if not (math.isfinite(ts) and math.isfinite(weight) and weight >= 0.0):
            raise InvalidInputError(f"learn_one needs finite ts and weight >= 0, got {weight!r}")
        if rating is not None and not math.isfinite(rating):
            raise InvalidInputError(f"learn_one needs a finite rating, got {rating!r}")
        self._touch_user(user).add(item)
        self._touch_item(item)[user] = None
        self.popular.learn_one(user, item, weight, ts, category, purchased)
        self.cooc.learn_one(user, item, weight, ts, purchased)
        self.mf.learn_one(user, item, weight)
        if rating is not None:
            self.rating.learn_one(user, item, rating)
        if category is not None:
            self.last_category[user] = category
            self.category[item] = category

    def _remember_id(self, event_id: str) -> None:
        self.recent_ids.append(event_id)
        self._recent_set.add(event_id)
        if len(self.recent_ids) > self.dedup_ids:
            self._recent_set.discard(self.recent_ids.popleft())

    def _touch_user(self, user: str) -> set[str]:
        """``user``'s seen set, the user now the most recently active (the least
        recently active one forgotten past ``max_users``)."""
        seen = self.seen
        items = seen.get(user)
        if items is not None:
            seen.move_to_end(user)
            return items
        items = seen[user] = set()
        while len(seen) > self.max_users:
            self._evict_user(*seen.popitem(last=False))
        return items

    def _touch_item(self, item: str) -> dict[str, None]:
        """``item``'s users, the item now the most recently touched (the least recently
        touched one forgotten past ``max_items``)."""
        holders = self.holders
        users = holders.get(item)
        if users is not None:
            holders.move_to_end(item)
            return users
        users = holders[item] = {}
        while len(holders) > self.max_items:
            self._evict_item(*holders.popitem(last=False))
        return users

    def _evict_user(self, user: str, items: set[str]) -> None:
        holders = self.holders
        for item in items:
            del holders[item][user]
        self.last_category.pop(user, None)
        self.popular.forget_user(user)
        self.cooc.forget_user(user)
        self.mf.forget_user(user)
        self.rating.forget_user(user)

    def _evict_item(self, item: str, users: dict[str, None]) -> None:
        seen = self.seen
        for user in users:
            seen[user].discard(item)
        self.category.pop(item, None)
        self.out_of_stock.discard(item)
        self.popular.forget_item(item, users)
        self.cooc.forget_item(item, users)
        self.mf.forget_item(item)
        self.rating.forget_item(item)

    def _catalog(self, item: str, event: dict[str, Any]) -> None:
        stock = None if event.get("stock") is None else int(event["stock"])
        self._touch_item(item)
        if event.get("category_id") is not None:
            self.category[item] = str(event["category_id"])
        if stock is not None:
            (self.out_of_stock.add if stock <= 0 else self.out_of_stock.discard)(item)

    def predict_rating(self, user: str, item: str) -> float:
        """Predicted rating 1-5 (BiasedMF)."""
        return self.rating.predict_one(user, item)

    def excluded(self, user: str, exclude: Collection[str] = ()) -> set[str]:
        """Items never shown to ``user``: bought, seen (when ``exclude_seen``), ``exclude``."""
        skip = set(exclude)
        skip.update(self.popular.purchases(user))
        if self.exclude_seen:
            skip.update(self.seen.get(user, ()))
        return skip

    def candidates(self, user: str, skip: Collection[str], n: int | None = None) -> Candidates:
        """Every source's best ``n`` items for ``user``, none of ``skip``."""
        return self._gather(user, skip, self.n_candidates if n is None else n, SOURCES, False)[0]

    def _gather(
        self,
        user: str,
        skip: Collection[str],
        n: int,
        sources: Collection[str],
        anchored: bool = True,
    ) -> tuple[dict[str, list[tuple[str, float]]], dict[str, str]]:
        """Candidate lists of ``sources``, and (``anchored``) the history item behind each
        co-occurrence one."""
        lists: dict[str, list[tuple[str, float]]] = {}
        anchors: dict[str, str] = {}
        if "cooc" in sources and anchored:
            explained = self.cooc.explain(user, None, n, skip)
            lists["cooc"] = [(item, score) for item, score, _ in explained]
            anchors = {item: anchor for item, _, anchor in explained}
        elif "cooc" in sources:
            lists["cooc"] = self.cooc.rank(user, n, skip)
        if "walk" in sources and user in self.seen:  # the graph may hold evicted ids
            walked = random_walk(self.graph, user, n + len(skip), beta=self.walk_beta)
            held = self.holders
            kept = [(i, score) for i, score in walked if i in held and i not in skip]
            lists["walk"] = kept[:n]
        if "mf" in sources:
            lists["mf"] = self.mf.rank(user, n, skip)
        if "popular" in sources:
            lists["popular"] = self._popular(n, None, skip)
        category = self.last_category.get(user)
        if "popular_category" in sources and category is not None:
            lists["popular_category"] = self._popular(n, category, skip)
        return lists, anchors

    def _popular(
        self, n: int, category: str | None, skip: Collection[str]
    ) -> list[tuple[str, float]]:
        """``popular.rank(None, n, category, exclude=skip)``, asked without ``skip`` for
        ``2n``, ``8n`` ... items until ``n`` are left: the same list, but the global ranking
        stays within the model's cached head instead of sorting every item for a user who
        has seen hundreds."""
        m = 2 * n
        while True:
            ranked = self.popular.rank(None, m, category)
            kept = [(item, score) for item, score in ranked if item not in skip]
            if len(kept) >= n or len(ranked) < m:
                return kept[:n]
            m *= 4

    def recommend(
        self,
        user: str,
        k: int = 10,
        exclude: Collection[str] = (),
        exclude_categories: Collection[str] = (),
        in_stock: Callable[[str], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """``[{"product_id", "score", "reason", "source"}]``, best first; sources weighted 0
        are not asked."""
        used = [source for source in SOURCES if self.weights.get(source, 0.0) > 0.0]
        skip = self.excluded(user, exclude)
        lists, anchors = self._gather(user, skip, self.n_candidates + k, used)

        def keep(item: str) -> bool:
            if item in self.out_of_stock or (in_stock is not None and not in_stock(item)):
                return False
            return not exclude_categories or self.category.get(item) not in exclude_categories

        ranked = blend(lists, self.weights, k, keep=keep)
        return [
            {
                "product_id": item,
                "score": score,
                "reason": self.reason(item, source, anchors.get(item)),
                "source": source,
            }
            for item, score, source in ranked
        ]

    def reason(self, item: str, source: str, anchor: str | None = None) -> str:
        """A sentence a person understands, naming the history item or category behind it."""
        if source == "cooc" and anchor is not None:
            if self.cooc.bought_together(item, anchor):
                return f"bought together with {anchor}"
            return f"often chosen together with {anchor}"
        if source == "popular_category" and item in self.category:
            return f"popular in category {self.category[item]}"
        if source in ("walk", "mf"):
            return "people like you liked it"
        return "popular right now"
