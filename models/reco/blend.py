"""Blending candidate lists; learning the blend's weights on the stream, or tuning them offline.

Each source's list is turned into rank scores ``1 / (RANK_OFFSET + rank)``
(reciprocal-rank fusion; rank 0 is the source's best) or into scores divided by the
source's best (``mode="score"``), multiplied by the source's weight and summed per
item. The reason kept for an item is the source whose part is largest.

>>> lists = {"a": [("x", 9.0), ("y", 1.0)], "b": [("y", 5.0), ("z", 4.0)]}
>>> [(item, round(s, 4), src) for item, s, src in blend(lists, {"a": 1.0, "b": 1.0}, 3)]
[('y', 0.0331, 'b'), ('x', 0.0167, 'a'), ('z', 0.0164, 'b')]
>>> tune_weights([(lists, "x")], ["a", "b"], grid=(0.0, 1.0), k=1)
{'a': 1.0, 'b': 0.0}

:class:`LearnedWeights` learns the weights from the stream itself, test then train: at
sampled interactions (a known user, an item new to them) each source's list is scored
against the item before it is learned, and a source's weight follows its recent NDCG@k.
Where recency matters (a week of ML-100K) the decayed co-occurrence wins the weight;
where the log spans years, the sources that keep the long history do; a catalogue
without categories weights ``popular_category`` 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

Candidates = Mapping[str, Sequence[tuple[str, float]]]
#: Added to a 0-based rank in reciprocal-rank fusion (the usual 60 flattens short lists).
RANK_OFFSET = 60.0
#: Weights tried for each source by :func:`tune_weights`.
GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def blend(
    lists: Candidates,
    weights: Mapping[str, float],
    k: int,
    mode: str = "rank",
    keep: Callable[[str], bool] | None = None,
) -> list[tuple[str, float, str]]:
    """``(item, blended score, main source)`` best first (ties by item), only items ``keep``
    accepts."""
    total: dict[str, float] = {}
    main: dict[str, tuple[float, str]] = {}
    for source, ranked in lists.items():
        w = weights.get(source, 0.0)
        if w <= 0.0 or not ranked:
            continue
        top = ranked[0][1]
        for r, (item, score) in enumerate(ranked):
            if mode == "rank":
                part = w / (RANK_OFFSET + r)
            else:
                part = w * (score / top if top > 0 else 0.0)
            total[item] = total.get(item, 0.0) + part
            if part > main.get(item, (-1.0, ""))[0]:
                main[item] = (part, source)
    ranked_items = sorted(total.items(), key=lambda pair: (-pair[1], pair[0]))
    out = []
    for item, score in ranked_items:
        if keep is None or keep(item):
            out.append((item, score, main[item][1]))
            if len(out) == k:
                break
    return out


def hit_and_ndcg(ranked: Sequence[str], target: str) -> tuple[float, float]:
    """HR and NDCG of one target (one relevant item) in a ranked list."""
    for r, item in enumerate(ranked):
        if item == target:
            return 1.0, 1.0 / math.log2(r + 2)
    return 0.0, 0.0


def tune_weights(
    samples: Sequence[tuple[Candidates, str]],
    sources: Collection[str],
    grid: Sequence[float] = GRID,
    k: int = 10,
    rounds: int = 2,
    mode: str = "rank",
) -> dict[str, float]:
    """Coordinate ascent on NDCG@k over ``(candidate lists, target)`` samples: each source's
    weight in turn takes the grid value that scores best (ties: the earlier grid value)."""
    weights = dict.fromkeys(sorted(sources), 1.0)

    def ndcg(w: Mapping[str, float]) -> float:
        return sum(
            hit_and_ndcg([i for i, _, _ in blend(lists, w, k, mode)], target)[1]
            for lists, target in samples
        )

    best = ndcg(weights)
    for _ in range(rounds):
        for source in sorted(sources):
            for value in grid:
                trial = {**weights, source: value}
                if not any(trial.values()):
                    continue
                score = ndcg(trial)
                if score > best + 1e-12:
                    best, weights = score, trial
    return weights


class LearnedWeights:
    """Blend weights that follow each source's recent NDCG@k on the stream.

    ``due()`` is asked at every eligible interaction and says which are sampled: after
    ``n`` samples the next is ``1 + 2n`` interactions later, up to ``every`` (about
    ``sqrt(interactions)`` samples at first: quality is known soon after a start, and a
    sample, which ranks every source for one user, costs a few ms, so it costs little later). ``observe(lists, target)``
    scores each source's own list; each source's NDCG is averaged with a decay of
    ``half_life`` samples. After ``warmup`` samples a source's weight is
    ``scale * (ndcg / best ndcg) ** power`` (a high power: reciprocal-rank fusion
    gains little from a weak source, and a clearly better one should dominate);
    before, the ``prior``. Everything depends on the samples and their order only.

    >>> lw = LearnedWeights({"a": 1.0, "b": 1.0}, warmup=2, power=2.0)
    >>> [lw.due() for _ in range(6)]  # nothing observed yet: every one
    [True, True, True, True, True, True]
    >>> for _ in range(3):
    ...     lw.observe({"a": [("x", 1.0)], "b": [("y", 1.0), ("x", 0.5)]}, "x")
    >>> {s: round(w, 3) for s, w in lw.weights().items()}
    {'a': 4.0, 'b': 1.592}
    """

    def __init__(
        self,
        prior: Mapping[str, float],
        k: int = 10,
        half_life: float = 60.0,
        power: float = 3.0,
        scale: float = 4.0,
        warmup: int = 30,
        every: int = 1000,
    ):
        self.prior = dict(prior)
        self.k, self.half_life, self.power, self.scale = k, half_life, power, scale
        self.warmup, self.every = warmup, every
        self._decay = 0.5 ** (1.0 / half_life)
        #: decayed sums of each source's NDCG@k, and of the samples' count
        self.quality = dict.fromkeys(self.prior, 0.0)
        self.mass = 0.0
        self.samples = 0
        self.eligible = 0
        self._next = 1

    def due(self) -> bool:
        """Count one eligible interaction; True when it is to be sampled."""
        self.eligible += 1
        if self.eligible < self._next:
            return False
        self._next = self.eligible + min(self.every, 1 + 2 * self.samples)
        return True

    def observe(self, lists: Candidates, target: str) -> None:
        """Score each source's list (best first) against the item the user chose next."""
        decay = self._decay
        for source in self.quality:
            top = [item for item, _ in lists.get(source, ())[: self.k]]
            self.quality[source] = self.quality[source] * decay + hit_and_ndcg(top, target)[1]
        self.mass = self.mass * decay + 1.0
        self.samples += 1

    def weights(self) -> dict[str, float]:
        """The blend's weights now (the prior until ``warmup`` samples)."""
        best = max(self.quality.values(), default=0.0)
        if self.samples < self.warmup or best <= 0.0:
            return dict(self.prior)
        return {s: self.scale * (q / best) ** self.power for s, q in self.quality.items()}

    def ndcg(self) -> dict[str, float]:
        """Each source's recent NDCG@k (decayed mean over the samples)."""
        mass = self.mass or 1.0
        return {s: q / mass for s, q in self.quality.items()}

    def to_state(self) -> dict[str, Any]:
        return {
            "prior": self.prior,
            "params": {
                "k": self.k,
                "half_life": self.half_life,
                "power": self.power,
                "scale": self.scale,
                "warmup": self.warmup,
                "every": self.every,
            },
            "quality": self.quality,
            "mass": self.mass,
            "samples": self.samples,
            "eligible": self.eligible,
            "next": self._next,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LearnedWeights:
        lw = cls(state["prior"], **state["params"])
        lw.quality = {str(s): float(q) for s, q in state["quality"].items()}
        lw.mass, lw.samples = float(state["mass"]), int(state["samples"])
        lw.eligible, lw._next = int(state["eligible"]), int(state["next"])
        return lw
