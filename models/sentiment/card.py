"""The model card: ``card.json`` (read by the engine) and ``card.md`` (read by people).

>>> digest(b"pulse")[:12]
'41b589ea15f2'
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

NAME = "sentiment-fast"
SERIES = "1"
CARD = "card.json"


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def read(folder: Path) -> dict[str, Any] | None:
    """The card in ``folder``, or None when there is none."""
    path = folder / CARD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def build(
    meta: dict[str, Any],
    files: dict[str, Path],
    training: dict[str, Any],
    heldout: dict[str, Any] | None,
) -> dict[str, Any]:
    """A card for the model files ``files`` (``{"int8": path, "fp32": path}``)."""
    return {
        **meta,
        "languages": ["zh", "en"],
        "task": "binary review sentiment; score = p(positive) - p(negative) in [-1, 1]",
        "architecture": "fastText-style bag of hashed n-grams: embeddings -> mean -> linear, "
        "folded at export into one buckets x 2 table (int8, one scale per class); serving sums "
        "a text's rows, divides by (n-grams + prior_count) and applies softmax. Temperature and "
        "prior_count are fitted on the dev split (log loss); they change no label",
        "neutral": "label 'neutral' only when |score| <= the engine's neutral_band "
        "(default 0: texts without any feature, e.g. empty)",
        "default_file": files["int8"].name,
        "files": {
            kind: {"path": p.name, "bytes": p.stat().st_size, "sha256": digest(p.read_bytes())}
            for kind, p in files.items()
        },
        "training": training,
        "heldout": heldout,
        "heldout_note": "heldout/ was read only after training and export; never for training, "
        "tuning, early stopping or thresholds (the dev split chose the epoch)",
    }


def write(folder: Path, card: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (folder / "card.md").write_text(markdown(card), encoding="utf-8")


def markdown(card: dict[str, Any]) -> str:
    """The human-readable card."""
    if card.get("kind") == "transformer":
        return transformer_markdown(card)
    t = card["training"]
    lines = [
        f"# {card['name']} {card['version']}",
        "",
        f"- Task: {card['task']}",
        f"- Languages: {', '.join(card['languages'])}; labels {card['labels']}",
        f"- Model: {card['architecture']}",
        f"- Featurizer: `{json.dumps(card['featurizer'])}`",
        f"- Neutral: {card['neutral']}",
        "- Files: "
        + "; ".join(f"`{f['path']}` {f['bytes']:,} bytes" for f in card["files"].values()),
        "",
        "## Training data",
        "",
        "| source | language | licence | rows | unique kept | train | dev |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in t["sources"].items():
        lines.append(
            f"| {name} | {s['language']} | {s['licence']} | {s['rows']:,} | "
            f"{s['unique_kept']:,} | {s['train']:,} | {s['dev']:,} |"
        )
    lines += ["", f"Deduplication: {t['dedup']}.", ""]
    lines += [
        f"Hyperparameters: `{json.dumps(t['hyperparameters'])}`; best epoch {t['best_epoch']}"
    ]
    lines += [f"(training took {t['training_seconds']} s)."]
    if "calibration" in t:
        lines += ["", f"Calibration on dev: `{json.dumps(t['calibration'])}`"]
    lines += _selection(t.get("selection"))
    lines += ["", "## Accuracy", ""]
    fp32 = "fp32" if "selection" in t else "PyTorch fp32"
    lines += _table(f"dev, {fp32} (carved from the training data)", t["dev"])
    lines += _table("dev, exported int8 ONNX through the engine", t.get("dev_int8_onnx") or {})
    if card.get("heldout"):
        lines += _table("held-out (../shared/data/heldout)", card["heldout"])
        lines.append(card["heldout_note"] + ".")
    return "\n".join(lines) + "\n"


def _selection(selection: dict[str, Any] | None) -> list[str]:
    """The domain-held-out dev table of a model chosen on it (``train_zh``)."""
    rows = (selection or {}).get("domain_dev") or []
    if not rows:
        return []
    domains = [k for k in rows[0] if k not in ("candidate", "mean")]
    lines = ["", "## Selection", "", f"{selection['method']}.", ""]  # type: ignore[index]
    lines += ["| candidate | " + " | ".join(domains) + " | mean |"]
    lines += ["|---|" + "---|" * (len(domains) + 1)]
    for r in rows:
        values = " | ".join(f"{r[d]:.4f}" for d in domains)
        lines.append(f"| {r['candidate']} | {values} | {r['mean']:.4f} |")
    return lines


def _table(title: str, result: dict[str, Any]) -> list[str]:
    rows = [f"### {title}", "", "| set | n | accuracy | balanced accuracy |", "|---|---|---|---|"]
    for name, r in result.items():
        if isinstance(r, dict):
            rows.append(
                f"| {name} | {r['n']:,} | {r['accuracy']:.4f} | {r['balanced_accuracy']:.4f} |"
            )
    return rows + [""]


def transformer_markdown(card: dict[str, Any]) -> str:
    """The human-readable card of a transformer (accurate tier or an exported HF checkpoint)."""
    tok = card["tokenizer"]
    classes = ", ".join(
        f"{card['source_labels'].get(str(i), i)} -> {c}" for i, c in enumerate(card["labels"])
    )
    lines = [
        f"# {card['name']} {card['version']}",
        "",
        f"- Task: {card['task']}",
        f"- Languages: {', '.join(card.get('languages') or ['not stated'])}",
        f"- Model: {card['architecture']}; output {card['output']}",
        f"- Classes: {classes}",
        f"- Tokenizer: `{tok['file']}`, max_length {tok['max_length']} tokens, pad id "
        f"{tok['pad_id']}, emoji {tok['emoji']}; inputs {', '.join(card['inputs'])}",
        f"- Neutral: {card['neutral']}",
        f"- Files (CPU default `{card['default_file']}`, GPU `{card.get('gpu_file', '-')}`): "
        + "; ".join(f"`{f['path']}` {f['bytes']:,} bytes" for f in card["files"].values()),
    ]
    t = card.get("training")
    if t:
        lines += ["", "## Training data", ""]
        lines += [
            "| source | licence | rows | unique kept | train | dev |",
            "|---|---|---|---|---|---|",
        ]
        for name, s in t["sources"].items():
            lines.append(
                f"| {name} | {s['licence']} | {s['rows']:,} | {s['unique_kept']:,} | "
                f"{s['train']:,} | {s['dev']:,} |"
            )
        lines += ["", f"Deduplication: {t['dedup']}.", ""]
        lines += [
            f"Started from `{t['base']}`; hyperparameters `{json.dumps(t['hyperparameters'])}`"
        ]
        lines += [f"(training took {t['training_seconds']} s; dev chose step {t['dev']['step']})."]
        lines += ["", "## Accuracy", ""]
        lines += _table("dev, PyTorch fp32 (carved from the training data)", t["dev"])
        lines += _table("dev, exported int8 ONNX through the engine", t.get("dev_int8_onnx") or {})
    if card.get("heldout"):
        lines += _table("held-out (../shared/data/heldout)", card["heldout"])
        lines.append(card["heldout_note"] + ".")
    return "\n".join(lines) + "\n"
