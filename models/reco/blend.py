"""Blending candidate lists, and tuning the blend's weights on training targets.

Each source's list is turned into rank scores ``1 / (RANK_OFFSET + rank)``
(reciprocal-rank fusion; rank 0 is the source's best) or into scores divided by the
source's best (``mode="score"``), multiplied by the source's weight and summed per
item. The reason kept for an item is the source whose part is largest.

>>> lists = {"a": [("x", 9.0), ("y", 1.0)], "b": [("y", 5.0), ("z", 4.0)]}
>>> [(item, round(s, 4), src) for item, s, src in blend(lists, {"a": 1.0, "b": 1.0}, 3)]
[('y', 0.0331, 'b'), ('x', 0.0167, 'a'), ('z', 0.0164, 'b')]
>>> tune_weights([(lists, "x")], ["a", "b"], grid=(0.0, 1.0), k=1)
{'a': 1.0, 'b': 0.0}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence

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
