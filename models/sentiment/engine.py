"""Sentiment inference over ONNX Runtime: one session per model, batches grouped by length.

:meth:`SentimentEngine.load` opens a model folder (its ``card.json`` names the file)
or a model file: a hashed n-gram model (the fast tier), a transformer with its
``tokenizer.json`` (the accurate tier, or any exported Hugging Face classifier), or
a router folder that sends each text to the tier of its script
(:mod:`models.sentiment.router`). All serve through the same API; see
:mod:`models.sentiment.tiers` and :mod:`models.sentiment.loading` for the formats.

Providers are tried in the order given (``"CUDA"``, ``"CPU"`` or full ONNX Runtime
names). ONNX Runtime silently drops CUDA when its libraries do not match, so the
provider that actually started is checked, logged and exposed as
:attr:`SentimentEngine.active_provider`; with ``require_gpu`` a CPU-only start fails.

>>> engine = SentimentEngine.load(DEFAULT_MODEL_DIR, providers=("CPU",))
>>> engine.active_provider
'CPUExecutionProvider'
>>> [p.label for p in engine.predict(["质量很好，非常满意", "This is awful, it broke in a day.", ""])]
['positive', 'negative', 'neutral']
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort

from models.exceptions import InvalidParameterError
from models.sentiment import card as cards
from models.sentiment import loading, router
from models.sentiment.exceptions import InvalidModelError
from models.sentiment.features import PROBE_TEXTS, Featurizer
from models.sentiment.tiers import CANONICAL, PAD_BUDGET, HashedInputs, Tier, group_rows

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "artifacts" / "sentiment-fast"
__all__ = ["DEFAULT_MODEL_DIR", "PAD_BUDGET", "Prediction", "SentimentEngine", "group_rows"]
__all__ += ["verify_model"]


class Prediction(NamedTuple):
    """``score`` = p(positive) - p(negative) in [-1, 1]; ``confidence`` = the larger probability."""

    score: float
    label: str
    confidence: float


class SentimentEngine:
    """Scores texts with one tier, or routes each text to one of several; build it with :meth:`load`."""

    def __init__(
        self,
        tiers: Sequence[Tier],
        version: str,
        path: Path,
        neutral_band: float = 0.0,
        cjk_share: float | None = None,
    ) -> None:
        if len(tiers) != (1 if cjk_share is None else len(router.ROUTES)):
            raise InvalidParameterError("one tier, or one per route with cjk_share")
        self.tiers = tuple(tiers)
        self.labels = tuple(c for c in CANONICAL if any(c in t.labels for t in tiers))
        self.path = path
        self.neutral_band = neutral_band
        self.cjk_share = cjk_share
        self._version = version
        self._columns = [[self.labels.index(c) for c in t.labels] for t in tiers]
        self._index = {c: self.labels.index(c) for c in self.labels}

    @classmethod
    def load(
        cls,
        path: str | Path = DEFAULT_MODEL_DIR,
        providers: str | Sequence[str] = ("CUDA", "CPU"),
        require_gpu: bool = False,
        intra_op_threads: int = 1,
        inter_op_threads: int = 1,
        max_batch: int = 256,
        neutral_band: float = 0.0,
        pad_budget: int | None = None,
        io_binding: bool | None = None,
    ) -> SentimentEngine:
        """Open a model file, or a folder whose ``card.json`` names its files (or its routes).

        ``intra_op_threads=0`` lets ONNX Runtime pick; the fast tier needs one thread
        (scale out with partitions and workers instead). ``pad_budget`` None takes the
        model kind's default; ``io_binding`` None binds on CUDA only.
        """
        if max_batch < 1 or intra_op_threads < 0 or inter_op_threads < 0:
            raise InvalidParameterError("max_batch must be >= 1; thread counts >= 0")
        if pad_budget is not None and pad_budget < 0:
            raise InvalidParameterError("pad_budget must be >= 0")
        if not 0.0 <= neutral_band < 1.0:
            raise InvalidParameterError(f"neutral_band must be in [0, 1), got {neutral_band}")
        options = loading.Options(
            providers,
            require_gpu,
            intra_op_threads,
            inter_op_threads,
            max_batch,
            pad_budget,
            io_binding,
        )
        path = Path(path)
        card = cards.read(path) if path.is_dir() else None
        if card and card.get("kind") == "router":
            folders, share = router.read(path, card)
            opened = [loading.open_tier(f, options) for f in folders]
            version = card.get("version") or "+".join(o.version for o in opened)
            tiers = [o.tier for o in opened]
            engine = cls(tiers, version, path / cards.CARD, neutral_band, share)
        else:
            one = loading.open_tier(path, options)
            engine = cls([one.tier], one.version, one.file, neutral_band)
        log.info("sentiment model %s (%s) on %s", engine.version, path, engine.active_provider)
        return engine

    @property
    def active_provider(self) -> str:
        """The execution provider ONNX Runtime actually runs on (not merely the one asked for).

        With a router, the first tier's where they differ.
        """
        return self.tiers[0].active_provider

    @property
    def version(self) -> str:
        return self._version

    @property
    def session(self) -> ort.InferenceSession:
        """The (first) tier's session."""
        return self.tiers[0].session

    @property
    def featurizer(self) -> Featurizer:
        """The fast tier's featurizer (AttributeError for other models)."""
        inputs = self.tiers[0].inputs
        if not isinstance(inputs, HashedInputs):
            raise AttributeError("this model has no hashed n-gram featurizer")
        return inputs.featurizer

    @property
    def max_batch(self) -> int:
        return self.tiers[0].max_batch

    @property
    def pad_budget(self) -> int:
        return self.tiers[0].pad_budget

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """``len(texts) x len(labels)`` probabilities (negative, [neutral,] positive), in input order."""
        if self.cjk_share is None:
            return self._widen(0, self.tiers[0].probabilities(texts))
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        which = router.routes(texts, self.cjk_share)
        for k, tier in enumerate(self.tiers):
            rows = np.flatnonzero(which == k)
            if len(rows):
                out[rows] = self._widen(k, tier.probabilities([texts[i] for i in rows.tolist()]))
        return out

    def _widen(self, k: int, probs: np.ndarray) -> np.ndarray:
        if len(self._columns[k]) == len(self.labels):
            return probs
        out = np.zeros((len(probs), len(self.labels)), dtype=np.float32)
        out[:, self._columns[k]] = probs
        return out

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """A :class:`Prediction` per text, in input order; empty text scores 0 ("neutral").

        Two labels: neutral only when ``|score| <= neutral_band``. With a neutral class,
        the most probable class, unless ``|score| <= neutral_band`` makes it neutral.
        """
        if not texts:
            return []
        probs = self.probabilities(texts)
        neg, pos = self._index["negative"], self._index["positive"]
        scores = np.clip(probs[:, pos] - probs[:, neg], -1.0, 1.0).tolist()
        confidence = probs.max(axis=1).tolist()
        band = self.neutral_band
        if len(self.labels) == 2:
            names = [
                "positive" if s > band else "negative" if s < -band else "neutral" for s in scores
            ]
        else:
            best = [self.labels[i] for i in probs.argmax(axis=1).tolist()]
            names = ["neutral" if abs(s) <= band else b for s, b in zip(scores, best, strict=True)]
        return [Prediction(*row) for row in zip(scores, names, confidence, strict=True)]

    __call__ = predict


def verify_model(path: str | Path, **load_args: Any) -> SentimentEngine:
    """Load a candidate model and prove it serves: probe batch shape, range, batch == one by one.

    Raises :class:`InvalidModelError` (or :class:`ModelNotFoundError`) so a hot swap can
    keep the running model; returns the ready engine otherwise.
    """
    engine = SentimentEngine.load(path, **{"providers": ("CPU",), **load_args})
    texts = list(PROBE_TEXTS)
    try:
        batch = engine.probabilities(texts)
        single = np.concatenate([engine.probabilities([t]) for t in texts])
    except Exception as exc:  # any runtime failure of the candidate is a reason to reject it
        raise InvalidModelError(f"{path}: probe batch failed: {exc}") from exc
    if batch.shape != (len(texts), len(engine.labels)) or not np.isfinite(batch).all():
        raise InvalidModelError(
            f"{path}: probe output has shape {batch.shape} or non-finite values"
        )
    if (batch < 0).any() or (batch > 1).any() or not np.allclose(batch.sum(axis=1), 1.0, atol=1e-3):
        raise InvalidModelError(
            f"{path}: probe output is not a probability per class (logits marked as "
            "probabilities in the card?)"
        )
    tolerance = max(_tolerance(t) for t in engine.tiers)
    if not np.allclose(batch, single, atol=tolerance):
        gap = float(np.abs(batch - single).max())
        raise InvalidModelError(
            f"{path}: batched and one-by-one outputs differ by {gap:.2g} (> {tolerance}): "
            "does the model ignore attention_mask, or pad with the wrong id?"
        )
    return engine


def _tolerance(tier: Tier) -> float:
    """Batched vs one by one: fp32 and int8 weights agree; fp16 kernels round differently.

    Dynamically quantised activations (scaled per batch) fail: a review's score must
    not depend on its neighbours in a batch.
    """
    if isinstance(tier.inputs, HashedInputs):
        return 1e-5
    return 0.03 if tier.precision == "fp16" else 1e-3
