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
    cut = at_least(scores, want) if want < n else np.arange(n)
    ranked = sorted((-float(scores[j]), ids[j]) for j in cut.tolist())
    return [(item, -neg) for neg, item in ranked if item not in exclude][:k]


#: Blocks of :func:`at_least` hold this many scores at least, and number at least this many
#: times the scores wanted; shorter vectors are partitioned whole.
MIN_BLOCK, BLOCKS_PER_WANTED = 16, 8


def at_least(scores: np.ndarray, want: int) -> np.ndarray:
    """The indices, ascending, of every score at least the ``want``-th largest (its ties
    too: a fair order by id among them), ``0 < want < len(scores)``.

    A long vector is cut by block maxima first: the ``want``-th largest maximum of the
    blocks is at most the ``want``-th largest score, so every score at or above that one
    lies in a block whose maximum is at or above it, or in the tail after the last whole
    block; only those are partitioned. Same indices; a ranking over 100,000 items spent
    ~1 ms in partitioning them all (most of a win-back's recommendations).

    >>> scores = np.array([5.0, 1.0, 7.0, 7.0, 2.0] * 40)
    >>> at_least(scores, 3).tolist() == np.flatnonzero(scores >= 7.0).tolist()
    True
    """
    n = len(scores)
    size = n // (BLOCKS_PER_WANTED * want)
    if size >= MIN_BLOCK:
        blocks = n // size
        maxima = scores[: blocks * size].reshape(blocks, size).max(axis=1)
        tail = np.arange(blocks * size, n)
        if not (np.isnan(maxima).any() or np.isnan(scores[tail]).any()):
            floor = np.partition(maxima, blocks - want)[blocks - want]
            chosen = np.flatnonzero(maxima >= floor)
            index = np.concatenate(((chosen[:, None] * size + np.arange(size)).ravel(), tail))
            kept = scores[index]
            threshold = np.partition(kept, len(kept) - want)[len(kept) - want]
            return index[kept >= threshold]
    threshold = np.partition(scores, n - want)[n - want]
    return np.flatnonzero(scores >= threshold)


def top_dict(
    scores: Mapping[str, float], k: int, exclude: Collection[str] = ()
) -> list[tuple[str, float]]:
    """The ``k`` best ``(id, score)`` of a dict."""
    pairs = ((-s, item) for item, s in scores.items() if item not in exclude)
    return [(item, -neg) for neg, item in heapq.nsmallest(k, pairs)]
