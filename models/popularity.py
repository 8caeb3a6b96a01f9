"""Time-decayed popularity: the cold-start recommender, learning one interaction at a time.

An item's score is ``sum(weight * 2 ** ((ts - now) / half_life))`` over its
interactions, where ``now`` is the newest event time seen. Scores are stored in
*forward-decay* form, ``weight * 2 ** ((ts - ref) / half_life)`` against a
reference time ``ref``: decay multiplies every score by the same factor, so the
order never changes, ``learn_one`` is O(1) and nothing is rescanned as time
passes. When an exponent would pass :data:`MAX_EXPONENT` the reference moves to
the new event and every score is rescaled once (items whose score underflows to
zero are forgotten).

Bounds: past ``max_items`` items, the weakest are pruned down to
:data:`PRUNE_TO` of the limit (so pruning is amortised). Past ``max_users``
buyers, the purchase sets of the users whose latest purchase is oldest are
forgotten, so those users may again be shown what they bought. An owner with bounds of
its own (:class:`models.reco.Recommender`) removes users and items with
:meth:`~DecayedPopularity.forget_user` and :meth:`~DecayedPopularity.forget_item`.

>>> pop = DecayedPopularity(half_life=10.0)
>>> pop.learn_one("u1", "a", 1.0, ts=0.0)
>>> pop.learn_one("u2", "b", 1.0, ts=10.0)
>>> pop.learn_one("u2", "b", 1.0, ts=10.0, purchased=True)
>>> pop.rank("u1", k=2)
[('b', 2.0), ('a', 0.5)]
>>> pop.rank("u2", k=2)
[('a', 0.5)]
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from collections.abc import Collection, Iterable
from operator import neg
from typing import Any

from models.exceptions import InvalidInputError, InvalidParameterError, InvalidStateError

#: Rebase when a forward-decay exponent passes this many half-lives (2**512 ~ 1e154).
MAX_EXPONENT = 512.0
#: After exceeding ``max_items``, keep this fraction of the limit (the strongest items).
PRUNE_TO = 0.9
#: Size of the cached head of the global ranking (requests for more scan every item).
HEAD_SIZE = 512
#: Version of the :meth:`DecayedPopularity.to_state` layout.
STATE_VERSION = 1


class DecayedPopularity:
    """Items ranked by exponentially decayed interaction weight, globally or per category.

    >>> pop = DecayedPopularity(half_life=60.0)
    >>> for item, ts in [("x", 0.0), ("y", 60.0), ("z", 60.0)]:
    ...     pop.learn_one("u", item, 1.0, ts, category_id="c1" if item != "z" else "c2")
    >>> pop.rank(None, k=3)  # ties broken by item id
    [('y', 1.0), ('z', 1.0), ('x', 0.5)]
    >>> pop.rank(None, category_id="c1", exclude={"y"})
    [('x', 0.5)]
    """

    def __init__(
        self, half_life: float = 3600.0, max_items: int = 100_000, max_users: int = 1_000_000
    ):
        _check_params(half_life, max_items, max_users)
        self.half_life = half_life
        self.max_items = max_items
        self.max_users = max_users
        self._ref: float | None = None  # None until the first event
        self._now = 0.0
        self._scores: dict[str, float] = {}
        self._category: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}
        self._bought: OrderedDict[str, set[str]] = OrderedDict()
        self._head: set[str] | None = None  # may hold the global top; None: rebuild
        self._cut = math.inf  # every item outside _head has a stored score below _cut
        #: The same, per large category: (members that may be its top, their cut).
        self._category_heads: dict[str, tuple[set[str], float]] = {}
        #: Pool (global head: None; else a category) -> the pool set it was sorted from, its
        #: items as ``(-stored score, item)``, sorted, and the items whose score or
        #: membership changed since (:meth:`_sorted`).
        self._ranked: dict[str | None, tuple[Collection[str], list[tuple[float, str]], set[str]]]
        self._ranked = {}

    def __len__(self) -> int:
        """Number of items tracked."""
        return len(self._scores)

    def learn_one(
        self,
        user_id: str,
        item_id: str,
        weight: float,
        ts: float,
        category_id: str | None = None,
        purchased: bool = False,
    ) -> None:
        """Add ``weight`` for ``item_id`` at event time ``ts`` (seconds); O(1) amortised."""
        exponent = self._exponent(ts, weight)
        scores = self._scores
        raw = scores[item_id] = scores.get(item_id, 0.0) + weight * 2.0**exponent
        if raw >= self._cut and self._head is not None:
            self._enter_head(item_id)
        if category_id is not None and self._category.get(item_id) != category_id:
            self._set_category(item_id, category_id)
        category = self._category.get(item_id)
        if category is not None and category in self._category_heads:
            self._enter_category_head(category, item_id, raw)
        ranked = self._ranked
        if ranked:  # sorted pools holding the item (the global head, its category's) are stale
            for key in (None, category) if category is not None else (None,):
                cached = ranked.get(key)
                if cached is not None and item_id in cached[0]:
                    cached[2].add(item_id)
        if purchased:
            self._remember_purchase(user_id, item_id)
        if len(scores) > self.max_items:
            self._prune()

    def score(self, item_id: str) -> float:
        """The item's decayed score as of the newest event seen (0.0 when unknown)."""
        return self._scores.get(item_id, 0.0) * self._decay()

    def rank(
        self,
        user_id: str | None,
        k: int = 10,
        category_id: str | None = None,
        exclude: Collection[str] = (),
    ) -> list[tuple[str, float]]:
        """Top ``k`` ``(item, score)``, best first, ties by item id; never what ``user_id``
        bought or what ``exclude`` lists; only ``category_id``'s items when given."""
        if k <= 0:
            return []
        skip = self._skipped(user_id, exclude)
        decay = self._decay()
        top = self._top(k + len(skip), category_id)
        return [(item, -neg_raw * decay) for neg_raw, item in top if item not in skip][:k]

    def purchases(self, user_id: str) -> frozenset[str]:
        """Items ``user_id`` is remembered to have bought."""
        return frozenset(self._bought.get(user_id, ()))

    def _exponent(self, ts: float, weight: float) -> float:
        """Forward-decay exponent of ``ts``; moves the reference first when it grows too large."""
        if not (math.isfinite(ts) and math.isfinite(weight) and weight >= 0.0):
            raise InvalidInputError(
                f"learn_one needs a finite ts and a finite weight >= 0, got {ts=!r} {weight=!r}"
            )
        if self._ref is None:
            self._ref = self._now = ts
        elif ts > self._now:
            self._now = ts
        exponent = (ts - self._ref) / self.half_life
        if exponent > MAX_EXPONENT:
            self._rebase(ts)
            return 0.0
        return exponent

    def _decay(self) -> float:
        """Factor from stored (forward-decayed) scores to scores as of the newest event."""
        return 0.0 if self._ref is None else 2.0 ** ((self._ref - self._now) / self.half_life)

    def _rebase(self, ts: float) -> None:
        """Move the reference time to ``ts``, rescaling every stored score once."""
        assert self._ref is not None
        factor = 2.0 ** ((self._ref - ts) / self.half_life)
        self._ref = ts
        scores = self._scores
        for item in scores:
            scores[item] *= factor
        self._head, self._cut = None, math.inf
        self._category_heads.clear()
        self._ranked.clear()  # every stored score changed
        self._forget([item for item, score in scores.items() if score == 0.0])

    def _top(self, n: int, category_id: str | None) -> list[tuple[float, str]]:
        """The ``n`` best ``(-stored score, item)``, best first, of a category or of all."""
        scores = self._scores
        if category_id is not None:
            pool: Collection[str] = self._members.get(category_id, ())
            if n <= HEAD_SIZE < len(pool):
                pool = self._category_head(category_id, pool)
        elif n <= HEAD_SIZE:
            pool = self._head if self._head is not None else self._build_head()
        else:
            return _best(n, list(scores.values()), scores)
        return self._sorted(category_id, pool)[:n]

    def _sorted(self, key: str | None, pool: Collection[str]) -> list[tuple[float, str]]:
        """``pool``'s items as ``(-stored score, item)``, sorted: kept from the last call for
        the same pool, with only the items changed since sorted in again (rankings come
        every few events, between which a few of a head's items move; sorting the whole
        head each time was most of a hybrid recommendation's time)."""
        scores = self._scores
        cached = self._ranked.get(key)
        if cached is None or cached[0] is not pool:
            ranked = sorted(zip(map(neg, map(scores.__getitem__, pool)), pool, strict=True))
        else:
            ranked, changed = cached[1], cached[2]
            if changed:
                ranked = [entry for entry in ranked if entry[1] not in changed]
                ranked.extend((-scores[item], item) for item in changed if item in pool)
                ranked.sort()  # a sorted run and a few more: linear
        self._ranked[key] = (pool, ranked, set())
        return ranked

    def _build_head(self) -> set[str]:
        """Cache the items scoring at least the ``HEAD_SIZE``-th best; scores only grow, so
        an item that reaches the cut later joins the head in :meth:`learn_one`."""
        scores = self._scores
        best = heapq.nlargest(HEAD_SIZE, scores.values())
        self._cut = best[-1] if len(best) == HEAD_SIZE else -math.inf
        self._head = {item for item, raw in scores.items() if raw >= self._cut}
        return self._head

    def _category_head(self, category_id: str, members: Collection[str]) -> set[str]:
        """The members of a large category that may be its top ``HEAD_SIZE`` (cached as the
        global head is; a ranking per event must not sort the whole category)."""
        cached = self._category_heads.get(category_id)
        if cached is not None:
            return cached[0]
        scores = self._scores
        cut = heapq.nlargest(HEAD_SIZE, map(scores.__getitem__, members))[-1]
        head = {item for item in members if scores[item] >= cut}
        self._category_heads[category_id] = (head, cut)
        return head

    def _enter_category_head(self, category_id: str, item_id: str, raw: float) -> None:
        head, cut = self._category_heads[category_id]
        if raw >= cut:
            head.add(item_id)
            if len(head) > 4 * HEAD_SIZE:
                del self._category_heads[category_id]  # rebuilt, with a higher cut

    def _enter_head(self, item_id: str) -> None:
        assert self._head is not None
        self._head.add(item_id)
        if len(self._head) > 4 * HEAD_SIZE:
            self._head, self._cut = None, math.inf  # rebuilt, with a higher cut, on demand

    def _skipped(self, user_id: str | None, exclude: Collection[str]) -> Collection[str]:
        bought = self._bought.get(user_id, ()) if user_id is not None else ()
        if not exclude:
            return bought
        return set(exclude).union(bought) if bought else set(exclude)

    def _set_category(self, item_id: str, category_id: str) -> None:
        old = self._category.get(item_id)
        if old is not None:
            self._leave(old, item_id)
        self._category[item_id] = category_id
        self._members.setdefault(category_id, set()).add(item_id)

    def _leave(self, category_id: str, item_id: str) -> None:
        members = self._members[category_id]
        members.discard(item_id)
        if (cached_ranking := self._ranked.get(category_id)) is not None:
            cached_ranking[2].add(item_id)
        cached = self._category_heads.get(category_id)
        if cached is not None and item_id in cached[0]:
            del self._category_heads[category_id]  # it may no longer hold the top: rebuilt
        if not members:
            del self._members[category_id]

    def _remember_purchase(self, user_id: str, item_id: str) -> None:
        bought = self._bought
        bought.setdefault(user_id, set()).add(item_id)
        bought.move_to_end(user_id)
        while len(bought) > self.max_users:
            bought.popitem(last=False)  # the buyer whose latest purchase is oldest

    def _prune(self) -> None:
        """Drop the weakest items (by rank order) down to ``PRUNE_TO * max_items``."""
        keep = max(1, int(self.max_items * PRUNE_TO))
        scores = self._scores
        weakest = heapq.nlargest(
            len(scores) - keep, zip(map(neg, scores.values()), scores, strict=True)
        )
        self._forget([item for _, item in weakest])

    def forget_user(self, user_id: str) -> None:
        """Forget what ``user_id`` bought."""
        self._bought.pop(user_id, None)

    def forget_item(self, item_id: str, buyers: Iterable[str] = ()) -> None:
        """Forget ``item_id`` (score, category) and its place in ``buyers``' purchases;
        O(1) unless it is in a cached head (which is then rebuilt on demand)."""
        head = self._head
        if self._scores.pop(item_id, None) is not None and head is not None and item_id in head:
            self._head, self._cut = None, math.inf
        category = self._category.pop(item_id, None)
        if category is not None:
            self._leave(category, item_id)
        for user_id in buyers:
            bought = self._bought.get(user_id)
            if bought is not None:
                bought.discard(item_id)

    def _forget(self, items: Iterable[str]) -> None:
        self._head, self._cut = None, math.inf
        self._category_heads.clear()
        self._ranked.clear()
        for item in items:
            del self._scores[item]
            category = self._category.pop(item, None)
            if category is not None:
                self._leave(category, item)

    def to_state(self) -> dict[str, Any]:
        """A JSON-able snapshot; :meth:`from_state` restores the same model exactly."""
        return {
            "version": STATE_VERSION,
            "half_life": self.half_life,
            "max_items": self.max_items,
            "max_users": self.max_users,
            "ref": self._ref,
            "now": self._now,
            "scores": dict(self._scores),
            "category": dict(self._category),
            "bought": [[user, sorted(items)] for user, items in self._bought.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DecayedPopularity:
        """The model :meth:`to_state` described (also after a JSON round trip).

        >>> pop = DecayedPopularity(half_life=5.0)
        >>> pop.learn_one("u", "a", 2.0, ts=1.0, category_id="c", purchased=True)
        >>> DecayedPopularity.from_state(pop.to_state()).to_state() == pop.to_state()
        True
        """
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise InvalidStateError(f"not a version {STATE_VERSION} popularity state")
        try:
            return cls._restore(state)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidStateError(f"malformed popularity state: {exc!r}") from exc

    @classmethod
    def _restore(cls, state: dict[str, Any]) -> DecayedPopularity:
        model = cls(state["half_life"], state["max_items"], state["max_users"])
        model._ref, model._now = state["ref"], state["now"]
        model._scores = {str(item): float(score) for item, score in state["scores"].items()}
        for item, category in state["category"].items():
            model._set_category(item, category)
        model._bought = OrderedDict((user, set(items)) for user, items in state["bought"])
        return model


def _check_params(half_life: float, max_items: int, max_users: int) -> None:
    """Fail fast, naming the argument, when a constructor argument is out of range."""
    if not (isinstance(half_life, int | float) and math.isfinite(half_life) and half_life > 0):
        raise InvalidParameterError(f"half_life must be a finite number > 0, got {half_life!r}")
    if not (isinstance(max_items, int) and max_items >= 1):
        raise InvalidParameterError(f"max_items must be an integer >= 1, got {max_items!r}")
    if not (isinstance(max_users, int) and max_users >= 0):
        raise InvalidParameterError(f"max_users must be an integer >= 0, got {max_users!r}")


def _best(n: int, raws: list[float], items: Iterable[str]) -> list[tuple[float, str]]:
    """``heapq.nsmallest(n, zip(map(neg, raws), items))``: the ``n`` best ``(-raw, item)``,
    best first, ties by item. The ``n``-th largest raw is found among plain floats first, so
    only the items at or above it become tuples (0.65x the time for 2,000 items).

    >>> _best(2, [1.0, 3.0, 3.0, 2.0], ["a", "c", "b", "d"])
    [(-3.0, 'b'), (-3.0, 'c')]
    """
    if n <= 0:
        return []
    if len(raws) > n:
        cut = heapq.nlargest(n, raws)[-1]
        top = [(-raw, item) for raw, item in zip(raws, items, strict=True) if raw >= cut]
    else:
        top = [(-raw, item) for raw, item in zip(raws, items, strict=True)]
    top.sort()
    return top[:n]
