"""Rebuild a transformer's GPU file (fp16) from its committed int8 file and graph skeleton.

    python -m models.sentiment.derive MODEL_DIR      # writes MODEL_DIR/model.fp16.onnx

Needs ``onnx`` (the ``gpu`` or ``train`` extra), not torch. The fp16 file of an
accurate tier is about twice the int8 one, too big to commit beside it, so
:mod:`models.sentiment.export_hf` commits ``model.int8.onnx`` plus
``model.skeleton.onnx``: the fp32 graph without the weights that dynamic quantisation
stored as int8 (it names them ``<name>_quantized``, ``_scale``, ``_zero_point``).
:func:`rebuild` puts the dequantised weights back and converts the graph to fp16.
The export itself makes its fp16 file this way, so a rebuilt file is the file the card
describes (its weights are the int8 model's, dequantised: the same accuracy or better,
since activations stay unquantised).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.sentiment import card as cards

SKELETON, FP16 = "model.skeleton.onnx", "model.fp16.onnx"
_KEY = "pulse.dequantized"


def skeleton(fp32: Path, int8: Path, out: Path) -> Path:
    """The fp32 graph of ``fp32`` without the initializers ``int8`` holds quantised."""
    import onnx

    model = onnx.load(str(fp32))
    quantized = {i.name for i in onnx.load(str(int8)).graph.initializer}
    dropped = [i.name for i in model.graph.initializer if f"{i.name}_quantized" in quantized]
    kept = [i for i in model.graph.initializer if i.name not in set(dropped)]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = _KEY, json.dumps(dropped)
    onnx.save_model(model, str(out))
    return out


def rebuild(skeleton_path: Path, int8: Path, out: Path) -> Path:
    """The fp16 model: the skeleton with dequantised weights, then converted to fp16."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(skeleton_path))
    names = json.loads(next(p.value for p in model.metadata_props if p.key == _KEY))
    q = {i.name: i for i in onnx.load(str(int8)).graph.initializer}
    for name in names:
        values = _dequantized(*(numpy_helper.to_array(q[name + s]) for s in _SUFFIXES))
        model.graph.initializer.append(numpy_helper.from_array(values, name))
    kept = [p for p in model.metadata_props if p.key != _KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    half = convert_float_to_float16(model, keep_io_types=True)
    onnx.save_model(half, str(out))
    return out


_SUFFIXES = ("_quantized", "_scale", "_zero_point")


def _dequantized(q: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """``(q - zero) * scale`` (per tensor, or per channel along the last axis).

    >>> _dequantized(np.array([[0, 255]], np.uint8), np.array(0.5, np.float32), np.array(128, np.uint8))
    array([[-64. ,  63.5]], dtype=float32)
    """
    return ((q.astype(np.float32) - zero.astype(np.float32)) * scale).astype(np.float32)


def rebuild_folder(folder: Path) -> Path:
    """Write the card's ``gpu_file`` of ``folder`` from its int8 file and skeleton."""
    card: dict[str, Any] = cards.read(folder) or {}
    files = card.get("files", {})
    if "skeleton" not in files or "int8" not in files or not card.get("gpu_file"):
        raise ValueError(f"{folder}: the card names no int8 file, skeleton and gpu_file")
    return rebuild(
        folder / files["skeleton"]["path"],
        folder / files["int8"]["path"],
        folder / card["gpu_file"],
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        out = rebuild_folder(Path(args[0]))
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        print(f"cannot rebuild: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
