"""Incremental item-item co-occurrence (ItemKNN-style), time-decayed, bounded per item.

Each user keeps their last ``window`` distinct items. A new event ``(u, i, w)``
adds ``sqrt(w * w_j)`` to the pair ``(i, j)`` for every item ``j`` in that window,
(``w_j``: the strongest weight the user gave ``j``) in forward-decay form (``x * 2 ** ((ts - ref) / half_life)``, as
:mod:`models.popularity`), and ``w`` to the item's own mass. Pairs where both
events were purchases are also counted as *bought together* (for the reason shown).
Past ``PRUNE_AT * max_neighbours`` partners, an item keeps its ``max_neighbours``
strongest (ties: by id), so memory is ``O(items * max_neighbours)``. A partner an item
dropped may still hold the item in its own row: ``dropped[a]`` keeps the partners ``a``
dropped (compacted past ``COMPACT_AT`` times its last compacted size, and at least
``PRUNE_AT * max_neighbours``), so :meth:`~ItemCooccurrence.forget_item` finds every row
that names an item without a scan (the recommender's bounds).

``rank(user)`` scores ``j`` by ``sum_h r_h * c(h, j) / sqrt(m_h * m_j)`` (cosine on
decayed counts) over the user's window ``h``, ``r_h = recency ** age`` (the last
item counts most). Each result keeps the history item that contributed most, which
is what the reason names ("bought together with X").

>>> co = ItemCooccurrence(half_life=None)
>>> for user, item in [("a", "tent"), ("a", "stove"), ("b", "tent"), ("b", "stove"),
...                    ("c", "tent"), ("c", "mat")]:
...     co.learn_one(user, item, 1.0, ts=0.0)
>>> [(item, round(s, 3), anchor) for item, s, anchor in co.explain("d", ["tent"], k=2)]
[('stove', 0.816, 'tent'), ('mat', 0.577, 'tent')]
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Sequence
from typing import Any

from models.exceptions import InvalidInputError, InvalidStateError

#: Rebase the forward-decay reference past this many half-lives.
MAX_EXPONENT = 256.0
#: An item's partners are cut back to ``max_neighbours`` when they pass this many times it.
PRUNE_AT = 3
#: ``dropped[a]`` is compacted past this many times its size after the last compaction
#: (and at least ``PRUNE_AT * max_neighbours``): with 2, learning on MovieLens 100K (every
#: row pruned again and again) was ~20 % slower than without the bounds; with 3, ~10 %.
COMPACT_AT = 3


class ItemCooccurrence:
    """Decayed co-occurrence counts within each user's recent window, cosine-normalised."""

    def __init__(
        self,
        window: int = 20,
        max_neighbours: int = 100,
        half_life: float | None = 7 * 86_400.0,
        recency: float = 0.9,
    ):
        self.window, self.max_neighbours = window, max_neighbours
        self.half_life, self.recency = half_life, recency
        self._ref: float | None = None
        self._now = 0.0
        self.mass: dict[str, float] = {}
        self.pairs: dict[str, dict[str, float]] = {}
        self.bought: dict[str, set[str]] = {}
        #: user -> [(item, sqrt(weight), bought)], oldest first
        self.recent: dict[str, list[tuple[str, float, bool]]] = {}
        #: a -> partners ``a``'s row dropped: every row that holds ``a`` is in ``pairs[a]``
        #: or here (a superset: compaction drops those that hold ``a`` no more).
        self.dropped: dict[str, set[str]] = {}
        self._compacted: dict[str, int] = {}

    def _scale(self, ts: float) -> float:
        if self.half_life is None:
            return 1.0
        if self._ref is None:
            self._ref = self._now = ts
        self._now = max(self._now, ts)
        exponent = (ts - self._ref) / self.half_life
        if exponent > MAX_EXPONENT:
            self._rebase(ts)
            exponent = 0.0
        return 2.0**exponent

    def _rebase(self, ts: float) -> None:
        assert self._ref is not None and self.half_life is not None
        factor = 2.0 ** ((self._ref - ts) / self.half_life)
        self._ref = ts
        for item in self.mass:
            self.mass[item] *= factor
        for partners in self.pairs.values():
            for j in partners:
                partners[j] *= factor

    def learn_one(
        self, user: str, item: str, weight: float, ts: float, purchased: bool = False
    ) -> None:
        """Count ``item`` with the user's recent items; O(window) amortised."""
        if not (math.isfinite(weight) and weight >= 0.0 and math.isfinite(ts)):
            raise InvalidInputError(f"learn_one needs finite ts and weight >= 0, got {weight!r}")
        scale = self._scale(ts)
        self.mass[item] = self.mass.get(item, 0.0) + weight * scale
        recent = self.recent.get(user)
        if recent is None:
            recent = self.recent[user] = []
        root = math.sqrt(weight)
        pairs, limit = self.pairs, PRUNE_AT * self.max_neighbours
        mine = pairs.get(item)
        if mine is None:
            mine = pairs[item] = {}
        get = mine.get  # the hot loop: up to ``window`` partners an event
        for j, root_j, bought_j in recent:
            if j == item:
                continue
            amount = root * root_j * scale
            mine[j] = get(j, 0.0) + amount
            theirs = pairs[j]
            theirs[item] = theirs.get(item, 0.0) + amount
            if purchased and bought_j:  # before a prune, which keeps bought within the row
                self.bought.setdefault(item, set()).add(j)
                self.bought.setdefault(j, set()).add(item)
            if len(theirs) > limit:
                self._prune(j)
        if len(mine) > limit:
            self._prune(item)
        self._remember(recent, item, root, purchased)

    def _prune(self, a: str) -> None:
        """Keep ``a``'s ``max_neighbours`` strongest partners (ties: by id)."""
        partners, cap = self.pairs[a], self.max_neighbours
        strongest = sorted(partners.values(), reverse=True)
        cut = strongest[cap - 1]
        if strongest[cap] < cut:  # no tie across the cut: the strongest are those >= cut
            kept = {j: w for j, w in partners.items() if w >= cut}
        else:
            kept = {j: w for j, w in partners.items() if w > cut}
            ties = sorted(j for j, w in partners.items() if w == cut)
            kept.update((j, cut) for j in ties[: cap - len(kept)])
        self.pairs[a] = kept
        if a in self.bought:
            self.bought[a] &= kept.keys()
        dropped = self.dropped.get(a)
        if dropped is None:
            dropped = self.dropped[a] = set()
        dropped |= partners.keys() - kept.keys()
        floor = max(self._compacted.get(a, 0), PRUNE_AT * self.max_neighbours)
        if len(dropped) > COMPACT_AT * floor:
            self._compact(a)

    def _compact(self, a: str) -> None:
        """Keep in ``dropped[a]`` only partners whose rows hold ``a`` (and ``a``'s do not);
        those that hold ``a`` no more leave, and ``a`` leaves their own ``dropped``."""
        pairs, dropped = self.pairs, self.dropped
        rest = dropped.pop(a) - pairs[a].keys()
        kept = {j for j in rest if a in pairs[j]}
        for j in rest - kept:  # neither row holds the other
            _discard(dropped, j, a)
        self._compacted[a] = len(kept)
        if kept:
            dropped[a] = kept

    def forget_user(self, user: str) -> None:
        """Drop the user's window."""
        self.recent.pop(user, None)

    def forget_item(self, item: str, users: Collection[str] = ()) -> None:
        """Drop ``item``: its mass, its row, its place in every other row (and in the
        bought-together sets), and in the windows of ``users`` (those that may hold it)."""
        pairs, bought, dropped = self.pairs, self.bought, self.dropped
        self.mass.pop(item, None)
        bought.pop(item, None)
        self._compacted.pop(item, None)
        for j in pairs.pop(item, {}).keys() | dropped.pop(item, set()):
            pairs[j].pop(item, None)
            if j in bought:
                bought[j].discard(item)
            if j in dropped:
                _discard(dropped, j, item)
        for user in users:
            recent = self.recent.get(user)
            if recent is not None:
                recent[:] = [entry for entry in recent if entry[0] != item]

    def _remember(
        self, recent: list[tuple[str, float, bool]], item: str, root: float, purchased: bool
    ) -> None:
        for pos, (j, root_j, bought_j) in enumerate(recent):
            if j == item:
                del recent[pos]
                root, purchased = max(root, root_j), purchased or bought_j
                break
        recent.append((item, root, purchased))
        if len(recent) > self.window:
            del recent[0]

    def history(self, user: str) -> list[str]:
        """The user's recent distinct items, oldest first."""
        return [item for item, _, _ in self.recent.get(user, ())]

    def explain(
        self, user: str, history: Sequence[str] | None = None, k: int = 10, exclude=()
    ) -> list[tuple[str, float, str]]:
        """``(item, score, anchor)`` best first, ``anchor`` being the history item that
        contributed most; ``history`` defaults to the user's window."""
        items = self.history(user) if history is None else list(history)
        scores, best = self._scores(items, anchored=True)
        return [(j, s, best[j][1]) for j, s in self._top(scores, items, k, exclude)]

    def rank(
        self, user: str, k: int = 10, exclude: Collection[str] = ()
    ) -> list[tuple[str, float]]:
        """``(item, score)`` best first, never the user's window or ``exclude`` (the scores
        of :meth:`explain`, without finding the anchors)."""
        items = self.history(user)
        return self._top(self._scores(items, anchored=False)[0], items, k, exclude)

    def _scores(
        self, items: Sequence[str], anchored: bool
    ) -> tuple[dict[str, float], dict[str, tuple[float, str]]]:
        """Every partner's score, and (``anchored``) its strongest contribution and source."""
        scores: dict[str, float] = {}
        best: dict[str, tuple[float, str]] = {}
        mass, get = self.mass, scores.get
        weight = 1.0
        for h in reversed(items):
            partners = self.pairs.get(h)
            if partners and mass.get(h, 0.0) > 0.0:
                norm_h = weight / math.sqrt(mass[h])
                if anchored:
                    for j, c in partners.items():
                        part = c * norm_h / math.sqrt(mass[j] or math.inf)
                        scores[j] = get(j, 0.0) + part
                        if part > best.get(j, (0.0, ""))[0]:
                            best[j] = (part, h)
                else:
                    for j, c in partners.items():
                        scores[j] = get(j, 0.0) + c * norm_h / math.sqrt(mass[j] or math.inf)
            weight *= self.recency
        return scores, best

    @staticmethod
    def _top(
        scores: dict[str, float], items: Sequence[str], k: int, exclude: Collection[str]
    ) -> list[tuple[str, float]]:
        skip = set(exclude).union(items)
        top = heapq.nsmallest(k, ((-s, j) for j, s in scores.items() if j not in skip))
        return [(j, -neg) for neg, j in top]

    def bought_together(self, a: str, b: str) -> bool:
        return b in self.bought.get(a, ())

    def to_state(self) -> dict[str, Any]:
        return {
            "params": {
                "window": self.window,
                "max_neighbours": self.max_neighbours,
                "half_life": self.half_life,
                "recency": self.recency,
            },
            "ref": self._ref,
            "now": self._now,
            "mass": dict(self.mass),
            "pairs": {a: dict(p) for a, p in self.pairs.items()},
            "bought": {a: sorted(b) for a, b in self.bought.items()},
            "recent": {u: [list(e) for e in r] for u, r in self.recent.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ItemCooccurrence:
        try:
            model = cls(**state["params"])
            model._ref, model._now = state["ref"], float(state["now"])
            model.mass = {str(i): float(w) for i, w in state["mass"].items()}
            model.pairs = {str(a): dict(p) for a, p in state["pairs"].items()}
            model.bought = {str(a): set(b) for a, b in state["bought"].items()}
            model.recent = {
                str(u): [(str(i), float(w), bool(b)) for i, w, b in r]
                for u, r in state["recent"].items()
            }
            model._derive_dropped()
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidStateError(f"malformed co-occurrence state: {exc!r}") from exc
        return model

    def _derive_dropped(self) -> None:
        """The partners that ``a`` dropped and that still hold ``a``, from the rows."""
        pairs, dropped = self.pairs, self.dropped
        for j, row in pairs.items():
            for a in row:
                if j not in pairs[a]:
                    dropped.setdefault(a, set()).add(j)


def _discard(sets: dict[str, set[str]], key: str, member: str) -> None:
    """``sets[key].discard(member)``, dropping the set once empty."""
    members = sets.get(key)
    if members is not None:
        members.discard(member)
        if not members:
            del sets[key]
