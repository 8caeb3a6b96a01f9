"""Model folders and files -> ready :class:`~models.sentiment.tiers.Tier` objects.

A folder holds a ``card.json`` (:mod:`models.sentiment.card`) that names its model
files, each with a sha256 checked here. A card of ``"kind": "transformer"`` also names
its ``tokenizer.json`` (sha256 checked too), the class-to-label mapping and whether
the output is logits; a GPU-first load takes its ``gpu_file`` (fp16) when it has one
and falls back to ``default_file`` if the session does not start on the GPU. A bare
``.onnx`` file without a card must be a hashed n-gram model (it describes itself).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from models.sentiment import card as cards
from models.sentiment import ensemble, runtime
from models.sentiment.exceptions import InvalidModelError, ModelNotFoundError
from models.sentiment.features import PROBE_TEXTS, Featurizer, fingerprint
from models.sentiment.tiers import (
    CANONICAL,
    PAD_BUDGET,
    PAD_BUDGET_TOKENS,
    HashedInputs,
    Head,
    Tier,
    TokenInputs,
    input_names,
    token_inputs_ok,
)
from models.sentiment.tokens import TextEncoder

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Options:
    """How to open a session and batch on it (the arguments of ``SentimentEngine.load``)."""

    providers: str | Sequence[str] = ("CUDA", "CPU")
    require_gpu: bool = False
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    max_batch: int = 256
    pad_budget: int | None = None
    io_binding: bool | None = None

    def gpu_first(self) -> bool:
        usable = [p for p in runtime.provider_names(self.providers) if p in _available()]
        return bool(usable) and usable[0] in runtime.GPU_PROVIDERS


@dataclass(frozen=True, slots=True)
class Opened:
    tier: Tier
    version: str
    file: Path
    card: dict[str, Any] | None


def locate(path: Path, gpu: bool = False) -> tuple[Path, dict[str, Any] | None]:
    """The model file for ``path`` (a file, or a folder with a card) and its card, if any."""
    if path.is_dir():
        card = cards.read(path)
        if card is None:
            raise ModelNotFoundError(f"{path} has no {cards.CARD}: pass the .onnx file instead")
        name = card.get("default_file")
        if gpu and card.get("gpu_file"):
            if (path / card["gpu_file"]).is_file():
                name = card["gpu_file"]
            else:
                log.warning(
                    "%s: no GPU file %s here, serving %s (slow on a GPU): build it with "
                    "`python -m models.sentiment.derive %s`",
                    path,
                    card["gpu_file"],
                    name,
                    path,
                )
        if not name:
            raise InvalidModelError(f"{path / cards.CARD} names no default_file")
        file = path / name
    else:
        card = cards.read(path.parent)
        file = path
    if not file.is_file():
        raise ModelNotFoundError(f"no model file at {file}")
    listed = {f["path"]: f for f in (card or {}).get("files", {}).values()}
    if file.name not in listed:
        if card and card.get("kind") == "transformer":
            raise InvalidModelError(f"{file} is not listed in {file.parent / cards.CARD}")
        return file, None
    if "sha256" in listed[file.name]:  # a rebuilt fp16 file has none (see derive)
        _check_digest(file, listed[file.name]["sha256"])
    return file, card


def open_tier(path: Path, options: Options) -> Opened:
    """A tier for the model at ``path``; raises ``InvalidModelError`` with the reason."""
    folder_card = cards.read(path) if path.is_dir() else None
    if folder_card and folder_card.get("kind") == "ensemble":
        return _ensemble(path, folder_card, options)
    gpu = options.gpu_first()
    file, card = locate(path, gpu)
    session = _session(file, card, options)
    if gpu and card and file.name == card.get("gpu_file") and not _on_gpu(session):
        log.warning("%s did not start on a GPU: serving %s instead", file, card["default_file"])
        file, card = locate(path, False)
        session = _session(file, card, options)
    if card and card.get("kind") == "transformer":
        tier = _transformer(session, file, card, options)
        return Opened(tier, card.get("version") or file.stem, file, card)
    meta = _metadata(session, file)
    inputs = HashedInputs(_featurizer(meta, file), session.get_inputs()[0].name)
    head = Head(tuple(meta["labels"]))
    budget = PAD_BUDGET if options.pad_budget is None else options.pad_budget
    tier = Tier(session, inputs, head, options.max_batch, budget, options.io_binding)
    version = (card or {}).get("version") or meta.get("version") or file.stem
    return Opened(tier, version, file, card)


def _ensemble(path: Path, card: dict[str, Any], options: Options) -> Opened:
    folders, weights = ensemble.read(path, card)
    members = [open_tier(f, options).tier for f in folders]
    ensemble.check(path / cards.CARD, members)
    tier = ensemble.EnsembleTier(members, weights)
    return Opened(tier, card.get("version") or path.name, path / cards.CARD, card)  # type: ignore[arg-type]


def _available() -> set[str]:
    return set(ort.get_available_providers())


def _on_gpu(session: ort.InferenceSession) -> bool:
    return session.get_providers()[0] in runtime.GPU_PROVIDERS


def _session(file: Path, card: dict[str, Any] | None, o: Options) -> ort.InferenceSession:
    entry = _entry(card, file)
    fold = entry.get("quantization", "").startswith("int8 weights")
    return runtime.open_session(
        file, o.providers, o.require_gpu, o.intra_op_threads, o.inter_op_threads, fold
    )


def _entry(card: dict[str, Any] | None, file: Path) -> dict[str, Any]:
    """The card's ``files`` entry of ``file`` (with its kind as ``kind``), or {}."""
    for kind, entry in (card or {}).get("files", {}).items():
        if entry.get("path") == file.name:
            return {"kind": kind, **entry}
    return {}


def _check_digest(file: Path, expected: str) -> None:
    if cards.digest(file.read_bytes()) != expected:
        raise InvalidModelError(
            f"{file} does not match the sha256 in {file.parent / cards.CARD}: "
            "re-export the model with its card, or remove the stale card"
        )


def _transformer(
    session: ort.InferenceSession, file: Path, card: dict[str, Any], options: Options
) -> Tier:
    where = file.parent / cards.CARD
    spec = card.get("tokenizer") or {}
    classes = tuple(card.get("labels") or ())
    if not {"negative", "positive"} <= set(classes) or not set(classes) <= set(CANONICAL):
        raise InvalidModelError(
            f"{where}: labels {list(classes)} must map every output class to negative, "
            "neutral or positive, and include negative and positive"
        )
    if card.get("output") not in ("logits", "probabilities"):
        raise InvalidModelError(f"{where}: output must be 'logits' or 'probabilities'")
    reason = token_inputs_ok(session)
    if reason:
        raise InvalidModelError(f"{file}: {reason}")
    width = session.get_outputs()[0].shape[-1]
    if isinstance(width, int) and width != len(classes):
        raise InvalidModelError(f"{file}: {width} output classes but {where} maps {len(classes)}")
    tokenizer = file.parent / spec.get("file", "tokenizer.json")
    if not tokenizer.is_file():
        raise InvalidModelError(f"{where}: no tokenizer at {tokenizer}")
    if spec.get("sha256"):
        _check_digest(tokenizer, spec["sha256"])
    try:
        encoder = TextEncoder.from_file(
            tokenizer, int(spec["max_length"]), spec.get("pad_id"), spec.get("emoji") == "names"
        )
    except Exception as exc:  # tokenizers raises untyped errors for broken files
        raise InvalidModelError(f"{tokenizer}: cannot load it ({exc})") from exc
    head = Head(classes, logits=card["output"] == "logits")
    kind = "gpu" if _on_gpu(session) else "cpu"
    budget = PAD_BUDGET_TOKENS[kind] if options.pad_budget is None else options.pad_budget
    inputs = TokenInputs(encoder, input_names(session))
    precision = _entry(card, file).get("kind", "fp32")
    return Tier(session, inputs, head, options.max_batch, budget, options.io_binding, precision)


def _metadata(session: ort.InferenceSession, file: Path) -> dict[str, Any]:
    props = session.get_modelmeta().custom_metadata_map
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(int64)" or len(inputs[0].shape) != 2:
        raise InvalidModelError(
            f"{file}: expected one int64 input (batch x length); a transformer needs its "
            f"{cards.CARD} and tokenizer.json beside it (see docs/sentiment.md)"
        )
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
    if labels != ["negative", "positive"]:
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
