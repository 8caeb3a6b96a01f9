"""Review sentiment inside a batch: one model call per batch, one bad review costs itself only.

The scorer is any callable from texts to objects with ``score`` (in [-1, 1]),
``label`` and ``confidence`` (the ONNX engine in ``models/sentiment`` is one).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Prediction(Protocol):
    @property
    def score(self) -> float: ...

    @property
    def label(self) -> str: ...

    @property
    def confidence(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Sentiment:
    """A review's sentiment as Pulse publishes it."""

    score: float
    label: str
    confidence: float
    model_version: str

    def fields(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "label": self.label,
            "confidence": self.confidence,
            "model_version": self.model_version,
        }


Scorer = Callable[[Sequence[str]], Sequence[Prediction]]


def score_texts(scorer: Scorer, version: str, texts: Sequence[str]) -> list[Sentiment | str]:
    """A sentiment per text, or the reason it could not be scored.

    >>> class P:
    ...     def __init__(self, s): self.score, self.label, self.confidence = s, "positive", 0.9
    >>> def scorer(texts):
    ...     if "bad" in texts: raise ValueError("model failed")
    ...     return [P(0.5) for _ in texts]
    >>> [r if isinstance(r, str) else r.score for r in score_texts(scorer, "v1", ["ok", "bad"])]
    [0.5, 'ValueError: model failed']
    """
    try:
        return [_checked(p, version) for p in _predict(scorer, texts)]
    except Exception as exc:  # find the review that broke the batch
        log.warning("scoring a batch of %d failed (%r): scoring one by one", len(texts), exc)
    results: list[Sentiment | str] = []
    for text in texts:
        try:
            results.append(_checked(_predict(scorer, [text])[0], version))
        except Exception as exc:
            results.append(f"{type(exc).__name__}: {exc}"[:500])
    return results


def _predict(scorer: Scorer, texts: Sequence[str]) -> Sequence[Prediction]:
    predictions = scorer(texts)
    if len(predictions) != len(texts):
        raise ValueError(f"model returned {len(predictions)} predictions for {len(texts)} texts")
    return predictions


def _checked(p: Prediction, version: str) -> Sentiment:
    score, confidence = float(p.score), float(p.confidence)
    if not (math.isfinite(score) and -1.0 <= score <= 1.0 and 0.0 <= confidence <= 1.0):
        raise ValueError(f"model output out of range: score {score}, confidence {confidence}")
    return Sentiment(round(score, 6), str(p.label), round(confidence, 6), version)
