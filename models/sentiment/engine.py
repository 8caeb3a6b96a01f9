"""Sentiment inference over ONNX Runtime: one session per model, batches grouped by length.

A model file takes ``ids`` (int64, batch x length, 0 = padding) and returns ``probs``
(float, batch x 2: negative, positive); its metadata ``pulse.featurizer`` (JSON) names
the featurizer that made the ids at training time, ``pulse.labels`` and
``pulse.version`` the rest. A ``card.json`` beside it, if it lists the file, must
match its sha256 and supplies the version.

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

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort

from models.exceptions import InvalidParameterError
from models.sentiment import card as cards
from models.sentiment import runtime
from models.sentiment.exceptions import InvalidModelError, ModelNotFoundError
from models.sentiment.features import PROBE_TEXTS, Featurizer, fingerprint

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "artifacts" / "sentiment-fast"
#: Padding (ids) worth one more session call: grouping stops adding rows to a call
#: once they would add more padding than this. Measured for the fast tier on CPU: a
#: call costs ~12 us plus ~10 us of engine work, a padded id ~13 ns.
PAD_BUDGET = 2048


class Prediction(NamedTuple):
    """``score`` = p(positive) - p(negative) in [-1, 1]; ``confidence`` = the larger probability."""

    score: float
    label: str
    confidence: float


def group_rows(
    lengths: np.ndarray, max_batch: int, pad_budget: int = PAD_BUDGET
) -> list[np.ndarray]:
    """Row indices per session call: sorted by length, at most ``max_batch`` rows each.

    Rows join the current call while the padding they would add (every row padded to
    the longest) stays within ``pad_budget`` ids.

    >>> [g.tolist() for g in group_rows(np.array([900, 3, 2, 950] + [5] * 7), 64)]
    [[2, 1, 4, 5, 6, 7, 8, 9, 10], [0, 3]]
    >>> [len(g) for g in group_rows(np.full(300, 7), 128)]
    [128, 128, 44]
    """
    order = np.argsort(lengths, kind="stable")
    groups, start, total = [], 0, 0
    for i, size in enumerate(lengths[order].tolist()):
        count = i - start
        if count and (count >= max_batch or count * size - total > pad_budget):
            groups.append(order[start:i])
            start, total = i, 0
        total += size
    if len(order):
        groups.append(order[start:])
    return groups


class SentimentEngine:
    """Scores texts with one ONNX Runtime session; build it with :meth:`load`."""

    def __init__(
        self,
        session: ort.InferenceSession,
        featurizer: Featurizer,
        labels: Sequence[str],
        version: str,
        path: Path,
        max_batch: int,
        neutral_band: float,
        pad_budget: int = PAD_BUDGET,
    ) -> None:
        self.session = session
        self.featurizer = featurizer
        self.labels = tuple(labels)
        self.path = path
        self.max_batch = max_batch
        self.neutral_band = neutral_band
        self.pad_budget = pad_budget
        self._version = version
        self._input = session.get_inputs()[0].name

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
        pad_budget: int = PAD_BUDGET,
    ) -> SentimentEngine:
        """Open a model file, or a folder whose ``card.json`` names its default file.

        ``intra_op_threads=0`` lets ONNX Runtime pick; the fast tier needs one thread
        (scale out with partitions and workers instead).
        """
        if max_batch < 1 or intra_op_threads < 0 or inter_op_threads < 0 or pad_budget < 0:
            raise InvalidParameterError("max_batch must be >= 1; thread counts and pad_budget >= 0")
        if not 0.0 <= neutral_band < 1.0:
            raise InvalidParameterError(f"neutral_band must be in [0, 1), got {neutral_band}")
        file, card = _locate(Path(path))
        session = runtime.open_session(
            file, providers, require_gpu, intra_op_threads, inter_op_threads
        )
        meta = _metadata(session, file)
        featurizer = _featurizer(meta, file)
        version = (card or {}).get("version") or meta.get("version") or file.stem
        engine = cls(
            session, featurizer, meta["labels"], version, file, max_batch, neutral_band, pad_budget
        )
        log.info("sentiment model %s (%s) on %s", version, file, engine.active_provider)
        return engine

    @property
    def active_provider(self) -> str:
        """The execution provider ONNX Runtime actually runs on (not merely the one asked for)."""
        return str(self.session.get_providers()[0])

    @property
    def version(self) -> str:
        return self._version

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """``len(texts) x 2`` probabilities (negative, positive), in input order."""
        features = self.featurizer.batch(texts)
        if len(texts) == 1:
            return self._run(features.padded())
        groups = group_rows(features.lengths, self.max_batch, self.pad_budget)
        if len(groups) == 1:
            return self._run(features.padded())
        out = np.empty((len(texts), 2), dtype=np.float32)
        for rows in groups:
            out[rows] = self._run(features.padded(rows))
        return out

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """A :class:`Prediction` per text, in input order; empty text scores 0 ("neutral")."""
        if not texts:
            return []
        negative, positive = self.labels
        band = self.neutral_band
        out = []
        for p_neg, p_pos in self.probabilities(texts).tolist():
            s = min(max(p_pos - p_neg, -1.0), 1.0)
            label = positive if s > band else negative if s < -band else "neutral"
            out.append(Prediction(s, label, max(p_neg, p_pos)))
        return out

    __call__ = predict

    def _run(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self._input: ids})[0], dtype=np.float32)


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
    if batch.shape != (len(texts), 2) or not np.isfinite(batch).all():
        raise InvalidModelError(
            f"{path}: probe output has shape {batch.shape} or non-finite values"
        )
    if (batch < 0).any() or (batch > 1).any() or not np.allclose(batch.sum(axis=1), 1.0, atol=1e-4):
        raise InvalidModelError(f"{path}: probe output is not a probability per class")
    if not np.allclose(batch, single, atol=1e-5):
        raise InvalidModelError(f"{path}: batched and one-by-one outputs differ")
    return engine


def _locate(path: Path) -> tuple[Path, dict[str, Any] | None]:
    if path.is_dir():
        card = cards.read(path)
        if card is None:
            raise ModelNotFoundError(f"{path} has no {cards.CARD}: pass the .onnx file instead")
        file = path / card["default_file"]
    else:
        card = cards.read(path.parent)
        file = path
    if not file.is_file():
        raise ModelNotFoundError(f"no model file at {file}")
    listed = {f["path"]: f for f in (card or {}).get("files", {}).values()}
    if file.name not in listed:
        return file, None
    if cards.digest(file.read_bytes()) != listed[file.name]["sha256"]:
        raise InvalidModelError(
            f"{file} does not match the sha256 in {file.parent / cards.CARD}: "
            "re-export the model with its card, or remove the stale card"
        )
    return file, card


def _metadata(session: ort.InferenceSession, file: Path) -> dict[str, Any]:
    props = session.get_modelmeta().custom_metadata_map
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(int64)" or len(inputs[0].shape) != 2:
        raise InvalidModelError(f"{file}: expected one int64 input (batch x length)")
    if len(outputs) != 1 or outputs[0].shape[-1] not in (2, "2"):
        raise InvalidModelError(f"{file}: expected one output of 2 class probabilities")
    try:
        meta = {
            k.removeprefix("pulse."): json.loads(v)
            for k, v in props.items()
            if k.startswith("pulse.")
        }
        labels = list(meta["labels"])
    except (KeyError, ValueError) as exc:
        raise InvalidModelError(f"{file}: metadata pulse.labels/pulse.featurizer missing") from exc
    if len(labels) != 2:
        raise InvalidModelError(f"{file}: expected labels [negative, positive], got {labels}")
    return meta


def _featurizer(meta: dict[str, Any], file: Path) -> Featurizer:
    spec = meta.get("featurizer") or {}
    try:
        featurizer = Featurizer.from_dict(spec)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidModelError(f"{file}: featurizer {spec}: {exc}") from exc
    if spec.get("fingerprint") not in (None, fingerprint(featurizer, PROBE_TEXTS)):
        raise InvalidModelError(
            f"{file}: this code's featurizer makes different ids than the one the model was "
            "trained with (Python/Unicode version?); retrain with `pulse model train`"
        )
    return featurizer
