"""The worker's live sentiment model: loaded and verified at start, swapped atomically.

:class:`LiveModel` is the scorer the input agent calls once per batch. It holds
one :class:`~models.sentiment.SentimentEngine`; :meth:`LiveModel.swap` loads a
candidate in a thread, proves it serves (:func:`~models.sentiment.verify_model`)
and only then replaces the running one. A batch reads the engine once, so every
review of a batch is scored, and versioned, by the same model.

>>> from streams.settings import load_settings
>>> from streams.metrics import Metrics
>>> live = LiveModel.start(load_settings(sentiment_providers="cpu"), Metrics())
>>> [p.label for p in live(["质量很好", "broken on arrival, terrible"])], live.provider
(['positive', 'negative'], 'CPUExecutionProvider')
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

from models.exceptions import ModelError
from models.sentiment import DEFAULT_MODEL_DIR, Prediction, SentimentEngine, verify_model
from models.sentiment import card as cards
from streams.exceptions import ConfigurationError
from streams.metrics import Metrics
from streams.settings import Settings, env_name

log = logging.getLogger(__name__)
#: What :meth:`LiveModel.warm` scores: a review in each language the bundled tiers read.
WARM_TEXTS = (
    "The battery lasts all day, but the case feels cheap.",
    "电池很耐用，但是外壳做工一般。",
)


def providers_for(setting: str) -> list[str]:
    """Execution providers for ``PULSE_SENTIMENT_PROVIDERS``; ``auto``: CUDA when offered, then CPU.

    >>> providers_for("cpu"), providers_for("CUDA, cpu")
    (['cpu'], ['CUDA', 'cpu'])
    """
    if setting.strip().lower() != "auto":
        return [p.strip() for p in setting.split(",") if p.strip()]
    offered = ort.get_available_providers()
    return ["CUDA", "CPU"] if "CUDAExecutionProvider" in offered else ["CPU"]


class LiveModel:
    """Scores review texts with the current engine; see the module doc."""

    def __init__(self, engine: SentimentEngine, settings: Settings, metrics: Metrics):
        self.settings = settings
        self.metrics = metrics
        self.engine = engine
        self.swaps = 0
        self._lock = asyncio.Lock()
        self._publish(engine)

    @classmethod
    def start(cls, settings: Settings, metrics: Metrics) -> LiveModel:
        """Load the configured model or fail with a message that says what to change."""
        try:
            engine = load_engine(settings, settings.sentiment_model)
        except ModelError as exc:
            raise ConfigurationError(
                f"{env_name('sentiment_model')}: {exc} (unset it to use the bundled model)"
            ) from exc
        return cls(engine, settings, metrics)

    @property
    def version(self) -> str:
        return self.engine.version

    @property
    def provider(self) -> str:
        return self.engine.active_provider

    def __call__(self, texts: Sequence[str]) -> list[Prediction]:
        started = time.perf_counter()
        predictions = self.engine.predict(texts)
        self.metrics.sentiment_seconds.observe(time.perf_counter() - started)
        self.metrics.sentiment_batch.observe(len(texts))
        self.metrics.sentiment_reviews.inc(len(texts))
        return predictions

    def clauses(self, texts: Sequence[str]) -> list[Prediction]:
        """Score the clauses that name a review's aspects (:mod:`streams.mentions`),
        counted apart from the reviews."""
        predictions = self.engine.predict(texts)
        self.metrics.sentiment_clauses.inc(len(texts))
        return predictions

    def warm(self) -> None:
        """Score one English and one Chinese text, uncounted: tokenizers load their
        dictionaries (jieba: about a second) before the first review, not during it."""
        self.engine.predict(WARM_TEXTS)

    def describe(self) -> dict[str, Any]:
        """The running model, for ``GET /model``."""
        card = cards.read(self.engine.path.parent) or {}
        return {
            "version": self.version,
            "path": str(self.engine.path),
            "provider": self.provider,
            "gpu_required": self.settings.sentiment_require_gpu,
            "labels": list(self.engine.labels),
            "languages": card.get("languages"),
            "swaps": self.swaps,
        }

    async def swap(self, path: str | Path) -> dict[str, Any]:
        """Load, verify and switch to the model at ``path``; on any error keep the running one.

        Raises :class:`~models.exceptions.ModelError` with the reason it was rejected.
        """
        async with self._lock:
            loop = asyncio.get_running_loop()
            try:
                engine = await loop.run_in_executor(None, load_engine, self.settings, Path(path))
            except ModelError:
                self.metrics.sentiment_swaps.labels(outcome="rejected").inc()
                raise
            old = self.engine.version
            self.engine = engine
            self.swaps += 1
            self._publish(engine)
            self.metrics.sentiment_swaps.labels(outcome="swapped").inc()
            log.warning("sentiment model swapped: %s -> %s (%s)", old, engine.version, path)
            return self.describe()

    def _publish(self, engine: SentimentEngine) -> None:
        m = self.metrics
        m.sentiment_provider.clear()
        m.sentiment_provider.labels(provider=engine.active_provider).set(1)
        m.sentiment_model.clear()
        m.sentiment_model.labels(version=engine.version).set(1)
        m.sentiment_gpu_required.set(1 if self.settings.sentiment_require_gpu else 0)


def load_engine(settings: Settings, path: Path | None) -> SentimentEngine:
    """A verified engine for ``path`` (``None``: the bundled model) with the configured runtime."""
    return verify_model(
        path or DEFAULT_MODEL_DIR,
        providers=providers_for(settings.sentiment_providers),
        require_gpu=settings.sentiment_require_gpu,
        intra_op_threads=settings.sentiment_threads,
        max_batch=settings.sentiment_max_batch,
    )
