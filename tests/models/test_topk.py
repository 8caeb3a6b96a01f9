"""Top-k selection: the block-maxima cut finds exactly what partitioning every score finds."""

from __future__ import annotations

import numpy as np
import pytest

from models.reco.topk import BLOCKS_PER_WANTED, MIN_BLOCK, at_least, top_items


def every_score_at_least(scores: np.ndarray, want: int) -> np.ndarray:
    """The plain way: partition the whole vector."""
    n = len(scores)
    return np.flatnonzero(scores >= np.partition(scores, n - want)[n - want])


@pytest.mark.parametrize("seed", range(6))
def test_the_cut_keeps_every_score_at_least_the_wanted_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n = int(rng.integers(1, 60_000))
        want = int(rng.integers(1, max(2, min(n, 800))))
        if want >= n:
            continue
        if rng.random() < 0.5:  # many ties, and the best in one block or in the tail
            scores = rng.integers(0, 6, n).astype(np.float64)
        else:
            scores = rng.normal(size=n)
        if rng.random() < 0.3:
            scores[int(rng.integers(n - n % 7 - 1, n))] = 1e9
        assert at_least(scores, want).tolist() == every_score_at_least(scores, want).tolist()


def test_long_vectors_take_the_cut_and_nan_the_plain_way() -> None:
    rng = np.random.default_rng(9)
    scores = rng.normal(size=100_000)
    block = len(scores) // (BLOCKS_PER_WANTED * 60)
    assert block >= MIN_BLOCK, "this size takes the block cut"
    assert at_least(scores, 60).tolist() == every_score_at_least(scores, 60).tolist()
    scores[5] = np.nan
    assert at_least(scores, 60).tolist() == every_score_at_least(scores, 60).tolist()


def test_top_items_ranks_the_best_first_ties_by_id_skipping_exclusions() -> None:
    n = 50_000
    scores = np.zeros(n)
    scores[[7, 40_000, 123, 49_999]] = [2.0, 3.0, 2.0, 3.0]
    ids = [f"i{j:05d}" for j in range(n)]
    assert top_items(ids, scores, 3, exclude={"i49999"}) == [
        ("i40000", 3.0),
        ("i00007", 2.0),
        ("i00123", 2.0),
    ]
