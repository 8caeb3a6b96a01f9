"""Int8 weights for transformer files, and the GPU file (fp16) rebuilt from them.

    python -m models.sentiment.derive MODEL_DIR      # writes MODEL_DIR/model.fp16.onnx

Needs ``onnx`` (the ``gpu`` or ``train`` extra), not torch.

:func:`int8_weights` stores every large weight matrix of an fp32 graph (``MatMul``
right-hand sides, ``Gather`` tables such as embeddings) as int8 with one symmetric
scale per output channel, followed by a ``DequantizeLinear`` node. Activations stay
float, so a text's scores do not depend on the other texts of its batch (dynamic
int8 quantisation scales activations per batch: scores moved by up to 0.14 with the
neighbours, which :func:`~models.sentiment.engine.verify_model` refuses). ONNX
Runtime folds the dequantisation once at load (``session.disable_quant_qdq``), so
the file is a quarter of fp32 on disk and runs at fp32 speed.

An fp16 file is about twice the int8 one, too big to commit beside it, so
:func:`rebuild` makes it from the int8 file: weights dequantised, graph converted to
fp16. :mod:`models.sentiment.export_hf` makes its own fp16 file this way, so a
rebuilt file is the one the card describes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.sentiment import card as cards

FP16 = "model.fp16.onnx"
#: How the card describes an :func:`int8_weights` file; the engine folds such files at load.
QUANTIZATION = "int8 weights (symmetric, per output channel), fp32 activations"
#: Weights smaller than this stay fp32 (biases, LayerNorm, tiny tables).
MIN_SIZE = 4096


def quantize(weight: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one scale per index of ``axis``: ``weight ~= q * scale``.

    >>> q, s = quantize(np.array([[1.0, -4.0], [0.5, 2.0]], np.float32), axis=1)
    >>> q.tolist(), s.tolist()
    ([[127, -127], [64, 64]], [0.007874015718698502, 0.031496062874794006])
    """
    other = tuple(i for i in range(weight.ndim) if i != axis)
    scale = np.abs(weight).max(axis=other) / 127.0
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    shape = [1] * weight.ndim
    shape[axis] = -1
    q = np.clip(np.rint(weight / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def int8_weights(fp32: Path, out: Path) -> Path:
    """Write ``fp32`` with its large MatMul/Gather weights as int8 + DequantizeLinear."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32))
    graph = model.graph
    axes = _weight_axes(graph)
    kept, nodes = [], []
    for init in graph.initializer:
        values = numpy_helper.to_array(init)
        axis = axes.get(init.name)
        if axis is None or values.dtype != np.float32 or values.size < MIN_SIZE:
            kept.append(init)
            continue
        q, scale = quantize(values, axis)
        kept += [
            numpy_helper.from_array(q, f"{init.name}_int8"),
            numpy_helper.from_array(scale, f"{init.name}_scale"),
        ]
        nodes.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{init.name}_int8", f"{init.name}_scale"],
                [init.name],
                axis=axis,
                name=f"{init.name}_dequantize",
            )
        )
    del graph.initializer[:]
    graph.initializer.extend(kept)
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + rest)
    onnx.checker.check_model(model)
    onnx.save_model(model, str(out))
    return out


def _weight_axes(graph: Any) -> dict[str, int]:
    """Initializer name -> its output-channel axis, for 2-D MatMul right sides and Gather tables."""
    names = {i.name: len(i.dims) for i in graph.initializer}
    axes: dict[str, int] = {}
    for node in graph.node:
        if node.op_type == "MatMul" and names.get(node.input[1]) == 2:
            axes[node.input[1]] = 1
        elif node.op_type == "Gather" and names.get(node.input[0]) == 2:
            axes[node.input[0]] = 0
    return axes


def rebuild(int8: Path, out: Path) -> Path:
    """The fp16 model of an :func:`int8_weights` file: weights dequantised, then fp16."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(int8))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    folded, rest = [], []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(i in inits for i in node.input[:2]):
            q, scale = (numpy_helper.to_array(inits[i]) for i in node.input[:2])
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            shape = [1] * q.ndim
            shape[axis] = -1
            values = (q.astype(np.float32) * scale.reshape(shape)).astype(np.float32)
            folded.append(numpy_helper.from_array(values, node.output[0]))
            inits.pop(node.input[0])
            inits.pop(node.input[1])
        else:
            rest.append(node)
    del graph.node[:]
    graph.node.extend(rest)
    del graph.initializer[:]
    graph.initializer.extend([*inits.values(), *folded])
    half = convert_float_to_float16(model, keep_io_types=True)
    onnx.save_model(half, str(out))
    return out


def rebuild_folder(folder: Path) -> Path:
    """Write the card's ``gpu_file`` of ``folder`` from its int8 file."""
    card: dict[str, Any] = cards.read(folder) or {}
    files = card.get("files", {})
    if "int8" not in files or not card.get("gpu_file"):
        raise ValueError(f"{folder}: the card names no int8 file and gpu_file")
    return rebuild(folder / files["int8"]["path"], folder / card["gpu_file"])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        out = rebuild_folder(Path(args[0]))
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot rebuild: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
