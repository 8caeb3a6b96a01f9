"""Export a Hugging Face sequence classifier for Pulse: ``python -m models.sentiment.export_hf``.

    python -m models.sentiment.export_hf CHECKPOINT_DIR OUT_DIR [--labels negative positive]
                                         [--max-length 128] [--name NAME] [--no-fp16]

Needs the ``train`` extra and ``transformers`` (see docs/sentiment.md). Reads a local
checkpoint folder (``config.json``, weights, and a fast tokenizer: ``tokenizer.json``
or files ``AutoTokenizer`` can turn into one) and writes into ``OUT_DIR``:

- ``model.onnx`` (fp32), ``model.int8.onnx`` (int8 weights, fp32 activations: the CPU
  default and the file to commit) and ``model.fp16.onnx`` (for GPU workers, made from
  the int8 file so it can be rebuilt from it alone: :mod:`models.sentiment.derive`),
  inputs ``input_ids``, ``attention_mask`` (and ``token_type_ids`` where the model
  takes them), output ``logits``;
- ``tokenizer.json``, the tokenizer the engine serves with;
- ``card.json`` / ``card.md``: each output class mapped to ``negative``, ``neutral`` or
  ``positive`` (from ``--labels``, or guessed from the checkpoint's ``id2label`` when
  its names say so), the tokenizer's ``max_length`` and pad id, and a sha256 per file.

Point Pulse at ``OUT_DIR`` with ``PULSE_SENTIMENT_MODEL`` or swap it in at run time.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.sentiment import card as cards
from models.sentiment import derive
from models.sentiment.tiers import CANONICAL
from models.sentiment.tokens import ATTENTION_MASK, INPUT_IDS, TOKEN_TYPE_IDS

log = logging.getLogger(__name__)

OPSET = 17
FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": derive.FP16}


def guess_labels(id2label: dict[int, str]) -> list[str] | None:
    """Canonical labels from a checkpoint's class names, or None when they say nothing.

    >>> guess_labels({0: "NEGATIVE", 1: "POSITIVE"}), guess_labels({0: "LABEL_0", 1: "LABEL_1"})
    (['negative', 'positive'], None)
    >>> guess_labels({0: "neg", 1: "neutral", 2: "pos"})
    ['negative', 'neutral', 'positive']
    """
    out = []
    for i in range(len(id2label)):
        name = str(id2label[i]).lower()
        hits = [c for c in CANONICAL if c[:3] in name]
        if len(hits) != 1:
            return None
        out.append(hits[0])
    return out


def export(
    checkpoint: Path,
    out: Path,
    labels: Sequence[str] | None = None,
    max_length: int = 128,
    name: str | None = None,
    languages: Sequence[str] = (),
    emoji: bool = False,
    fp16: bool = True,
    int8: bool = True,
) -> Path:
    """Write the ONNX files, ``tokenizer.json`` and card of ``checkpoint`` into ``out``."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(checkpoint)
    classes = _labels(config, labels)
    model = AutoModelForSequenceClassification.from_pretrained(
        checkpoint, attn_implementation="eager"
    ).eval()
    tokenizer, input_names = _tokenizer(checkpoint, model)
    limit = getattr(config, "max_position_embeddings", max_length)
    if max_length > limit:
        raise ValueError(f"max_length {max_length} exceeds the model's {limit} positions")
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*FILES.values(), cards.CARD, "card.md"):
        (out / stale).unlink(missing_ok=True)
    paths = {"fp32": _to_onnx(model, input_names, out / FILES["fp32"], torch)}
    if int8:
        paths["int8"] = derive.int8_weights(paths["fp32"], out / FILES["int8"])
    if fp16 and int8:  # the same way `python -m models.sentiment.derive` rebuilds it
        paths["fp16"] = derive.rebuild(paths["int8"], out / FILES["fp16"])
    elif fp16:
        paths["fp16"] = _fp16(paths["fp32"], out / FILES["fp16"])
    tok_path = out / "tokenizer.json"
    tokenizer.save(str(tok_path))
    pad_id = config.pad_token_id if config.pad_token_id is not None else 0
    card = build_card(
        name or checkpoint.resolve().name,
        config,
        classes,
        paths,
        {"file": tok_path.name, "max_length": max_length, "pad_id": int(pad_id)}
        | {"emoji": "names" if emoji else "keep", "sha256": cards.digest(tok_path.read_bytes())},
        input_names,
        languages,
    )
    cards.write(out, card)
    log.info("wrote %s", ", ".join(str(p) for p in (*paths.values(), tok_path)))
    return out


def build_card(
    name: str,
    config: Any,
    classes: list[str],
    paths: dict[str, Path],
    tokenizer: dict[str, Any],
    input_names: list[str],
    languages: Sequence[str],
) -> dict[str, Any]:
    files: dict[str, dict[str, Any]] = {
        kind: {"path": p.name, "bytes": p.stat().st_size, "sha256": cards.digest(p.read_bytes())}
        for kind, p in paths.items()
    }
    if "int8" in files:
        files["int8"]["quantization"] = derive.QUANTIZATION
    if "fp16" in files and "int8" in files:  # rebuilt elsewhere: bytes vary with onnx
        del files["fp16"]["sha256"]
        files["fp16"]["rebuild"] = "python -m models.sentiment.derive <this folder>"
    return {
        "name": name,
        "version": f"{name}+{files['fp32']['sha256'][:8]}",
        "kind": "transformer",
        "languages": list(languages),
        "task": "review sentiment; score = p(positive) - p(negative) in [-1, 1]",
        "architecture": f"{config.model_type} ({', '.join(config.architectures or [])}): "
        f"{getattr(config, 'num_hidden_layers', '?')} layers, "
        f"hidden {getattr(config, 'hidden_size', '?')}, vocabulary {config.vocab_size}",
        "labels": classes,
        "source_labels": {str(k): v for k, v in config.id2label.items()},
        "output": "logits",
        "inputs": input_names,
        "tokenizer": tokenizer,
        "neutral": "label 'neutral' for empty texts, when a class maps to neutral and wins, "
        "or when |score| <= the engine's neutral_band",
        "default_file": paths["int8"].name if "int8" in paths else paths["fp32"].name,
        **({"gpu_file": paths["fp16"].name} if "fp16" in paths else {}),
        "files": files,
    }


def _labels(config: Any, labels: Sequence[str] | None) -> list[str]:
    n = int(config.num_labels)
    classes = list(labels) if labels else guess_labels(dict(config.id2label))
    if classes is None:
        raise ValueError(
            f"the checkpoint's classes {dict(config.id2label)} do not say which is negative: "
            f"pass --labels with {n} of negative/neutral/positive, in class order"
        )
    if len(classes) != n or not set(classes) <= set(CANONICAL):
        raise ValueError(f"--labels needs {n} names from {list(CANONICAL)}, got {classes}")
    if not {"negative", "positive"} <= set(classes):
        raise ValueError(f"--labels must include negative and positive, got {classes}")
    return classes


def _tokenizer(checkpoint: Path, model: Any) -> tuple[Any, list[str]]:
    """The fast tokenizer of ``checkpoint`` and the inputs the model takes."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    try:
        auto = AutoTokenizer.from_pretrained(checkpoint, use_fast=True)
        names = list(auto.model_input_names)
        tokenizer = auto.backend_tokenizer
    except (OSError, ValueError) as exc:
        if not (checkpoint / "tokenizer.json").is_file():
            raise ValueError(f"{checkpoint} has no fast tokenizer (tokenizer.json)") from exc
        tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
        names = [INPUT_IDS, ATTENTION_MASK]
        if getattr(model.config, "type_vocab_size", 1) > 1:
            names.append(TOKEN_TYPE_IDS)
    if getattr(model.config, "type_vocab_size", 2) <= 1:  # one segment type: always 0
        names = [n for n in names if n != TOKEN_TYPE_IDS]
    allowed = (INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS)
    return tokenizer, [n for n in allowed if n in names]


def _to_onnx(model: Any, input_names: list[str], path: Path, torch: Any) -> Path:
    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: Any) -> Any:
            return self.model(**dict(zip(input_names, args, strict=True))).logits

    dummy = tuple(
        (torch.zeros if n == TOKEN_TYPE_IDS else torch.ones)((2, 8), dtype=torch.int64)
        for n in input_names
    )
    axes = {n: {0: "batch", 1: "length"} for n in input_names} | {"logits": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(
            Logits(),
            dummy,
            str(path),
            input_names=input_names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return path


def _fp16(src: Path, dst: Path) -> Path:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save_model(model, str(dst))
    return dst


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m models.sentiment.export_hf", description=__doc__.splitlines()[0]
    )
    p.add_argument("checkpoint", type=Path, help="local HF sequence-classification checkpoint")
    p.add_argument("out", type=Path, help="model folder to write")
    p.add_argument("--labels", nargs="+", help="negative/neutral/positive per class, in order")
    p.add_argument("--max-length", type=int, default=128, help="tokens kept per text")
    p.add_argument("--name", help="model name in the card (default: the checkpoint's folder)")
    p.add_argument("--language", action="append", default=[], help="e.g. en; repeatable")
    p.add_argument("--emoji-names", action="store_true", help="spell emoji as words first")
    p.add_argument("--no-fp16", action="store_true")
    p.add_argument("--no-int8", action="store_true")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        log.error("%s: install the train extra: pip install -e '.[train]'", exc)
        return 2
    try:
        folder = export(
            args.checkpoint,
            args.out,
            args.labels,
            args.max_length,
            args.name,
            args.language,
            args.emoji_names,
            not args.no_fp16,
            not args.no_int8,
        )
    except (OSError, ValueError) as exc:
        log.error("cannot export %s: %s", args.checkpoint, exc)
        return 2
    from models.sentiment.engine import verify_model

    engine = verify_model(folder)
    log.info("verified %s: %s", engine.version, engine.predict(["great", "awful"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
