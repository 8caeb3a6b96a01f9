"""Choosing ensemble weights on dev (synthetic probabilities: no models needed)."""

from __future__ import annotations

import numpy as np

from models.sentiment.blend import choose, report
from models.sentiment.data import Example


def _rows(n: int) -> list[Example]:
    return [Example(f"text {i}", i % 2, "s") for i in range(n)]


def _probs(rows: list[Example], p_truth: np.ndarray) -> np.ndarray:
    truth = np.array([e.label for e in rows])
    positive = np.where(truth == 1, p_truth, 1 - p_truth)
    return np.stack([1 - positive, positive], axis=1).astype(np.float32)


def test_a_member_that_is_right_where_the_other_is_wrong_earns_weight() -> None:
    rows = _rows(8)
    first = np.arange(8) < 4
    a = _probs(rows, np.where(first, 0.8, 0.2))  # sure and right on the first half only
    b = _probs(rows, np.where(first, 0.45, 0.9))  # unsure where wrong, sure where right
    weight, tried = choose(rows, a, b, 0.25, "zh")
    assert 0.0 < weight < 1.0 and len(tried) == 5
    assert report(rows, weight * a + (1 - weight) * b)["s"]["accuracy"] == 1.0


def test_a_better_member_alone_wins() -> None:
    rows = _rows(6)
    truth = np.array([e.label for e in rows])
    perfect = np.stack([1 - truth, truth], axis=1).astype(np.float32)
    weight, _ = choose(rows, perfect, 1 - perfect, 0.5, "zh")
    assert weight == 1.0
