"""Time-decayed popularity: the cold-start recommender, learning one interaction at a time.

Scores decay with a half-life of event time. They are kept in *forward-decay*
form, ``weight * 2 ** ((ts - ref) / half_life)`` against a fixed reference time,
so ``learn_one`` is O(1) and ranking needs no rescan; the reference moves (and
every score is rescaled once) only when exponents grow large.

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
from collections import OrderedDict
from collections.abc import Collection
from typing import Any

#: Rescale when a forward-decay exponent passes this many half-lives (2**512 stays finite).
_MAX_EXPONENT = 512.0


class DecayedPopularity:
    """Items ranked by exponentially decayed interaction weight, globally or per category."""

    def __init__(self, half_life: float = 3600.0, max_items: int = 100_000,
                 max_users: int = 1_000_000):
        if half_life <= 0:
            raise ValueError("half_life must be positive")
        self.half_life = half_life
        self.max_items = max_items
        self.max_users = max_users
        self._ref: float | None = None
        self._now = 0.0
        self._scores: dict[str, float] = {}
        self._category: dict[str, str] = {}
        self._bought: OrderedDict[str, set[str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._scores)

    def learn_one(self, user_id: str, item_id: str, weight: float, ts: float,
                  category_id: str | None = None, purchased: bool = False) -> None:
        """Add ``weight`` for ``item_id`` at event time ``ts``."""
        if self._ref is None:
            self._ref = ts
        exponent = (ts - self._ref) / self.half_life
        if exponent > _MAX_EXPONENT:
            self._rebase(ts)
            exponent = 0.0
        self._now = max(self._now, ts)
        self._scores[item_id] = self._scores.get(item_id, 0.0) + weight * 2.0**exponent
        if category_id is not None:
            self._category[item_id] = category_id
        if purchased:
            self._remember_purchase(user_id, item_id)
        if len(self._scores) > self.max_items:
            self._prune()

    def score(self, item_id: str) -> float:
        """The item's decayed score as of the newest event seen."""
        raw = self._scores.get(item_id, 0.0)
        if not raw or self._ref is None:
            return 0.0
        return raw * 2.0 ** ((self._ref - self._now) / self.half_life)

    def rank(self, user_id: str | None, k: int = 10, category_id: str | None = None,
             exclude: Collection[str] = ()) -> list[tuple[str, float]]:
        """Top ``k`` items, without those ``user_id`` bought or listed in ``exclude``."""
        bought = self._bought.get(user_id, set()) if user_id is not None else set()
        candidates = (
            (item, raw) for item, raw in self._scores.items()
            if item not in bought and item not in exclude
            and (category_id is None or self._category.get(item) == category_id)
        )
        top = heapq.nsmallest(k, candidates, key=lambda pair: (-pair[1], pair[0]))
        return [(item, self.score(item)) for item, _ in top]

    def _remember_purchase(self, user_id: str, item_id: str) -> None:
        self._bought.setdefault(user_id, set()).add(item_id)
        self._bought.move_to_end(user_id)
        while len(self._bought) > self.max_users:
            self._bought.popitem(last=False)  # forget the least recently active buyer

    def _rebase(self, ts: float) -> None:
        assert self._ref is not None
        factor = 2.0 ** ((self._ref - ts) / self.half_life)
        self._scores = {item: s * factor for item, s in self._scores.items() if s * factor > 0}
        self._ref = ts

    def _prune(self) -> None:
        keep = int(self.max_items * 0.9)
        strongest = heapq.nlargest(keep, self._scores.items(), key=lambda p: (p[1], p[0]))
        self._scores = dict(strongest)
        self._category = {i: c for i, c in self._category.items() if i in self._scores}

    def to_state(self) -> dict[str, Any]:
        """A JSON-able snapshot; :meth:`from_state` restores it exactly."""
        return {"half_life": self.half_life, "max_items": self.max_items,
                "max_users": self.max_users, "ref": self._ref, "now": self._now,
                "scores": self._scores, "category": self._category,
                "bought": [[u, sorted(items)] for u, items in self._bought.items()]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DecayedPopularity:
        model = cls(state["half_life"], state["max_items"], state["max_users"])
        model._ref, model._now = state["ref"], state["now"]
        model._scores = dict(state["scores"])
        model._category = dict(state["category"])
        model._bought = OrderedDict((u, set(items)) for u, items in state["bought"])
        return model
