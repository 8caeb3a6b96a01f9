"""Top-k selection shared by the models: best first, ties broken by id, exclusions skipped.

>>> import numpy as np
>>> top_items(["a", "b", "c", "d"], np.array([1.0, 3.0, 3.0, 2.0]), 2, exclude={"b"})
[('c', 3.0), ('d', 2.0)]
>>> top_dict({"x": 1.0, "y": 2.0, "z": 2.0}, 2)
[('y', 2.0), ('z', 2.0)]
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Sequence

import numpy as np


def top_items(
    ids: Sequence[str], scores: np.ndarray, k: int, exclude: Collection[str] = ()
) -> list[tuple[str, float]]:
    """The ``k`` best ``(id, score)`` of a score vector aligned with ``ids``."""
    n = len(scores)
    want = min(n, k + len(exclude))
    if want <= 0:
        return []
    if want < n:
        threshold = np.partition(scores, n - want)[n - want]
        cut = np.flatnonzero(scores >= threshold)  # every tie of the last one, for a fair id order
    else:
        cut = np.arange(n)
    ranked = sorted((-float(scores[j]), ids[j]) for j in cut.tolist())
    return [(item, -neg) for neg, item in ranked if item not in exclude][:k]


def top_dict(
    scores: Mapping[str, float], k: int, exclude: Collection[str] = ()
) -> list[tuple[str, float]]:
    """The ``k`` best ``(id, score)`` of a dict."""
    pairs = ((-s, item) for item, s in scores.items() if item not in exclude)
    return [(item, -neg) for neg, item in heapq.nsmallest(k, pairs)]
