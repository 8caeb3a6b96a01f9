"""One sentiment model on one ONNX Runtime session: its inputs, its classes, its batches.

Two kinds of model file serve through the same :class:`Tier`:

- **hashed n-grams** (the fast tier): input ``ids`` made by the featurizer its metadata
  ``pulse.featurizer`` names; output 2 probabilities (negative, positive).
- **transformer** (the accurate tier, or any exported Hugging Face classifier): inputs
  ``input_ids``, ``attention_mask`` and, where the graph has it, ``token_type_ids``,
  made by the ``tokenizer.json`` beside it; output logits or probabilities, one column
  per class. Its ``card.json`` (:mod:`models.sentiment.card`) maps each class to
  ``negative``, ``neutral`` or ``positive`` (several classes may share one, e.g. 1-5
  stars) and says whether the output is ``logits`` or ``probabilities``.

Either way :meth:`Tier.probabilities` gives one column per label of :attr:`Tier.labels`
(``negative``, [``neutral``,] ``positive``). Rows are grouped by length so padding
stays within a budget; on CUDA inputs and outputs go through IO binding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from models.sentiment.features import Featurizer
from models.sentiment.runtime import GPU_PROVIDERS
from models.sentiment.tokens import INPUT_IDS, TOKEN_TYPE_IDS, TextEncoder

#: Padding (ids) worth one more session call: grouping stops adding rows to a call
#: once they would add more padding than this. Measured for the fast tier on CPU: a
#: call costs ~12 us plus ~10 us of engine work, a padded id ~13 ns.
PAD_BUDGET = 2048
#: The same for transformers (tokens): on a CPU a padded token costs about as much as
#: a real one, so calls are split early; on a GPU a call costs more than padding does.
PAD_BUDGET_TOKENS = {"cpu": 256, "gpu": 8192}
#: Canonical labels, in the order of every probability matrix.
CANONICAL = ("negative", "neutral", "positive")


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


class Batch(Protocol):
    """Encoded texts: a length per row and the session's inputs for any subset of rows."""

    @property
    def lengths(self) -> np.ndarray: ...

    def feeds(self, rows: np.ndarray | None = None) -> dict[str, np.ndarray]: ...


class Inputs(Protocol):
    """Texts -> :class:`Batch`; ``empty`` marks texts the model is not asked about."""

    def batch(self, texts: Sequence[str]) -> Batch: ...

    def empty(self, batch: Batch) -> np.ndarray | None: ...


@dataclass(frozen=True, slots=True)
class HashedInputs:
    """The fast tier's featurizer, feeding its one ``ids`` input."""

    featurizer: Featurizer
    name: str = "ids"

    def batch(self, texts: Sequence[str]) -> Any:
        return _HashedBatch(self.featurizer.batch(texts), self.name)

    def empty(self, batch: Batch) -> np.ndarray | None:
        return None  # the graph itself scores a text without features 0.5 / 0.5


class _HashedBatch:
    __slots__ = ("features", "name")

    def __init__(self, features: Any, name: str) -> None:
        self.features, self.name = features, name

    @property
    def lengths(self) -> np.ndarray:
        return self.features.lengths

    def feeds(self, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return {self.name: self.features.padded(rows)}


@dataclass(frozen=True, slots=True)
class TokenInputs:
    """A HF tokenizer feeding ``input_ids``, ``attention_mask`` (and ``token_type_ids``)."""

    encoder: TextEncoder
    names: frozenset[str]

    def batch(self, texts: Sequence[str]) -> Any:
        return _TokenBatch(self.encoder.encode(texts), TOKEN_TYPE_IDS in self.names)

    def empty(self, batch: Batch) -> np.ndarray | None:
        return batch.encoded.empty  # type: ignore[attr-defined]


class _TokenBatch:
    __slots__ = ("encoded", "types")

    def __init__(self, encoded: Any, types: bool) -> None:
        self.encoded, self.types = encoded, types

    @property
    def lengths(self) -> np.ndarray:
        return self.encoded.lengths

    def feeds(self, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return self.encoded.feeds(rows, self.types)


@dataclass(frozen=True, slots=True)
class Head:
    """How output columns become canonical labels: ``classes[i]`` names column ``i``."""

    classes: tuple[str, ...]
    logits: bool = False

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c for c in CANONICAL if c in self.classes)

    def matrix(self) -> np.ndarray:
        """Columns (classes) x labels, 1 where a class counts towards a label.

        >>> Head(("negative", "negative", "neutral", "positive", "positive")).matrix().sum(axis=0)
        array([2., 1., 2.], dtype=float32)
        """
        labels = self.labels
        out = np.zeros((len(self.classes), len(labels)), dtype=np.float32)
        for i, c in enumerate(self.classes):
            out[i, labels.index(c)] = 1.0
        return out


class Tier:
    """One model on one session; :meth:`probabilities` is all it does."""

    def __init__(
        self,
        session: ort.InferenceSession,
        inputs: Inputs,
        head: Head,
        max_batch: int,
        pad_budget: int,
        io_binding: bool | None = None,
        precision: str = "fp32",
    ) -> None:
        self.session = session
        self.precision = precision
        self.inputs = inputs
        self.head = head
        self.labels = head.labels
        self.max_batch = max_batch
        self.pad_budget = pad_budget
        self._output = session.get_outputs()[0].name
        self._matrix = None if head.classes == head.labels else head.matrix()
        gpu = self.active_provider in GPU_PROVIDERS
        self.io_binding = gpu if io_binding is None else io_binding
        self._device = "cuda" if gpu else "cpu"

    @property
    def active_provider(self) -> str:
        return str(self.session.get_providers()[0])

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """``len(texts) x len(labels)`` probabilities, in input order."""
        batch = self.inputs.batch(texts)
        groups = (
            [None]
            if len(texts) == 1
            else group_rows(batch.lengths, self.max_batch, self.pad_budget)
        )
        if len(groups) == 1:
            out = self._run(batch.feeds())
        else:
            out = np.empty((len(texts), len(self.labels)), dtype=np.float32)
            for rows in groups:
                out[rows] = self._run(batch.feeds(rows))
        empty = self.inputs.empty(batch)
        if empty is not None and empty.any():
            out[empty] = self._no_evidence()
        return out

    def _no_evidence(self) -> np.ndarray:
        """An empty text: neutral where the model has it, else an even split."""
        if "neutral" in self.labels:
            return (np.array(self.labels) == "neutral").astype(np.float32)
        return np.full(len(self.labels), 1.0 / len(self.labels), dtype=np.float32)

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if self.io_binding:
            binding = self.session.io_binding()
            for name, value in feeds.items():
                binding.bind_cpu_input(name, value)
            binding.bind_output(self._output, self._device)
            self.session.run_with_iobinding(binding)
            raw = binding.copy_outputs_to_cpu()[0]
        else:
            raw = self.session.run([self._output], feeds)[0]
        out = np.asarray(raw, dtype=np.float32)  # fp16 models: widen once, here
        if self.head.logits:
            out = np.exp(out - out.max(axis=1, keepdims=True))
            out /= out.sum(axis=1, keepdims=True)
        return out if self._matrix is None else out @ self._matrix


def input_names(session: ort.InferenceSession) -> frozenset[str]:
    return frozenset(i.name for i in session.get_inputs())


def token_inputs_ok(session: ort.InferenceSession) -> str | None:
    """Why a transformer graph's inputs cannot be fed (a sentence), or None."""
    names = input_names(session)
    unknown = names - {INPUT_IDS, "attention_mask", TOKEN_TYPE_IDS}
    if INPUT_IDS not in names or unknown:
        return (
            f"inputs {sorted(names)}: Pulse feeds input_ids, attention_mask and token_type_ids "
            "(input_ids required); re-export without extra inputs"
        )
    for i in session.get_inputs():
        if i.type not in ("tensor(int64)", "tensor(int32)") or len(i.shape) != 2:
            return f"input {i.name} is {i.type} {i.shape}, not int64 batch x length"
    if any(i.type == "tensor(int32)" for i in session.get_inputs()):
        return "int32 inputs: re-export with int64 input_ids/attention_mask"
    return None
