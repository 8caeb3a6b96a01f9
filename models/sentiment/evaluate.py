"""Accuracy of a sentiment scorer per labeled set (balanced accuracy where classes are skewed).

>>> balanced_accuracy([1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 1])
0.625
>>> report([Example("good", 1, "s"), Example("bad", 0, "s")], lambda ts: [1.0 for _ in ts])
{'s': {'n': 2, 'accuracy': 0.5, 'balanced_accuracy': 0.5}}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from models.sentiment.data import Example

#: texts -> a score per text, positive above 0 (a probability-like scorer passes ``p - 0.5``).
Scorer = Callable[[Sequence[str]], Sequence[float]]


def balanced_accuracy(truth: Sequence[int], predicted: Sequence[int]) -> float:
    """Mean of the recall of each class present in ``truth``."""
    recalls = []
    for cls in sorted(set(truth)):
        hits = [p == cls for t, p in zip(truth, predicted, strict=True) if t == cls]
        recalls.append(sum(hits) / len(hits))
    return sum(recalls) / len(recalls) if recalls else float("nan")


def report(
    examples: Iterable[Example], scorer: Scorer, batch: int = 512
) -> dict[str, dict[str, float]]:
    """``{source: {n, accuracy, balanced_accuracy}}``; a score >= 0 counts as positive."""
    by_source: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_source[e.source].append(e)
    out: dict[str, dict[str, float]] = {}
    for source, rows in by_source.items():
        scores: list[float] = []
        for i in range(0, len(rows), batch):
            scores.extend(scorer([e.text for e in rows[i : i + batch]]))
        truth = [e.label for e in rows]
        pred = [int(s >= 0) for s in scores]
        out[source] = {
            "n": len(rows),
            "accuracy": round(sum(t == p for t, p in zip(truth, pred, strict=True)) / len(rows), 4),
            "balanced_accuracy": round(balanced_accuracy(truth, pred), 4),
        }
    return out


def by_language(result: dict[str, dict[str, float]], languages: dict[str, str]) -> float:
    """The dev selection metric: mean over languages of the n-weighted balanced accuracy.

    >>> r = {"a": {"n": 3, "balanced_accuracy": 0.9}, "b": {"n": 1, "balanced_accuracy": 0.5}}
    >>> round(by_language(r, {"a": "zh", "b": "zh"}), 4), by_language(r, {"a": "zh", "b": "en"})
    (0.8, 0.7)
    """
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for source, r in result.items():
        t = totals[languages[source]]
        t[0] += r["n"] * r["balanced_accuracy"]
        t[1] += r["n"]
    return sum(a / n for a, n in totals.values()) / max(len(totals), 1)
