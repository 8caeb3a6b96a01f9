"""ONNX graphs of the fast tier: a bag of hashed n-grams, averaged, then softmax.

Training learns an embedding table ``E`` (buckets x dim) and a linear layer ``W``
(2 x dim, no bias). The mean of embeddings followed by a linear map is itself linear,
so export folds them into one table ``T = E @ W.T`` (buckets x 2) and the graph is::

    probs = softmax(sum(T[ids], axis=1) / max(count(ids > 0) + prior, 1))

``ids`` (int64, batch x length) is padded with 0, whose row is all zeros. No bias:
a text without features scores exactly 0.5 / 0.5. ``prior`` (0 gives the plain
mean) counts virtual zero rows, so a text of few n-grams is less sure of itself;
training fits it, with a temperature folded into ``T``, on the dev split. The int8 graph stores ``T`` as
int8 with one symmetric scale per class and multiplies the scale in after the sum.
The Chinese best tier (:mod:`models.sentiment.train_zh`, a logistic regression) uses
the same graph with ``norm="sqrt"`` and a bias: ``softmax(sum(T[ids]) / sqrt(max(n + prior,
1)) + bias)``, the bias only where the text has an n-gram (a text without any still
scores 0.5 / 0.5); it keeps ``prior`` 0, as any other prior would change labels there.
Metadata ``pulse.*`` in the file names the featurizer and labels, so a model file
describes itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

#: Input and output names every Pulse sentiment model uses.
INPUT, OUTPUT = "ids", "probs"
OPSET, IR_VERSION = 17, 8  # onnxruntime >= 1.20 reads these


def quantize(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per column: ``table ~= q * scale``.

    >>> q, s = quantize(np.array([[0.0, 1.0], [-2.0, 0.5]], dtype=np.float32))
    >>> q.tolist(), [round(float(x), 4) for x in s]
    ([[0, 127], [-127, 64]], [0.0157, 0.0079])
    """
    scale = np.abs(table).max(axis=0) / 127.0
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(table / scale), -127, 127).astype(np.int8)
    return q, scale


def build(
    table: np.ndarray,
    metadata: dict[str, Any],
    int8: bool,
    prior: float = 0.0,
    norm: str = "mean",
    bias: np.ndarray | None = None,
) -> Any:
    """The ONNX model (an ``onnx.ModelProto``) over ``table`` (buckets x classes, row 0 zeros).

    ``norm`` ``"mean"`` divides the summed rows by the n-gram count (plus prior), ``"sqrt"``
    by its square root; ``bias`` (one per class) is added after that to every text that has
    an n-gram.
    """
    if norm not in ("mean", "sqrt"):
        raise ValueError(f"norm must be 'mean' or 'sqrt', not {norm!r}")
    from onnx import TensorProto, helper, numpy_helper

    n_classes = table.shape[1]
    h = helper.make_node
    inits = [numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1")]
    inits.append(numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"))
    inits.append(numpy_helper.from_array(np.array(prior, dtype=np.float32), "prior"))
    if int8:
        q, scale = quantize(table)
        inits += [numpy_helper.from_array(q, "table_q"), numpy_helper.from_array(scale, "scale")]
        nodes = [
            h("Gather", ["table_q", INPUT], ["rows_q"]),
            h("Cast", ["rows_q"], ["rows"], to=TensorProto.FLOAT),
            h("ReduceSum", ["rows", "axis1"], ["sum_q"], keepdims=0),
            h("Mul", ["sum_q", "scale"], ["sum"]),
        ]
    else:
        inits.append(numpy_helper.from_array(table.astype(np.float32), "table"))
        nodes = [
            h("Gather", ["table", INPUT], ["rows"]),
            h("ReduceSum", ["rows", "axis1"], ["sum"], keepdims=0),
        ]
    nodes += [
        h("Greater", [INPUT, "zero"], ["present"]),
        h("Cast", ["present"], ["present_f"], to=TensorProto.FLOAT),
        h("ReduceSum", ["present_f", "axis1"], ["count"], keepdims=1),
        h("Add", ["count", "prior"], ["count_prior"]),
        h("Max", ["count_prior", "one"], ["denominator" if norm == "mean" else "clamped"]),
    ]
    if norm == "sqrt":
        nodes.append(h("Sqrt", ["clamped"], ["denominator"]))
    nodes.append(h("Div", ["sum", "denominator"], ["logits" if bias is None else "scaled"]))
    if bias is not None:
        inits.append(numpy_helper.from_array(np.asarray(bias, dtype=np.float32), "bias"))
        nodes.append(h("Min", ["count", "one"], ["has_features"]))  # 0 for an empty text
        nodes.append(h("Mul", ["bias", "has_features"], ["bias_used"]))
        nodes.append(h("Add", ["scaled", "bias_used"], ["logits"]))
    nodes += [
        h("Softmax", ["logits"], [OUTPUT], axis=-1),
    ]
    inits.append(numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"))
    graph = helper.make_graph(
        nodes,
        "pulse_sentiment_fast",
        [helper.make_tensor_value_info(INPUT, TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", n_classes])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.producer_name = "pulse"
    helper.set_model_props(model, {f"pulse.{k}": json.dumps(v) for k, v in metadata.items()})
    return model


def save(
    table: np.ndarray,
    metadata: dict[str, Any],
    path: Path,
    int8: bool,
    prior: float = 0.0,
    norm: str = "mean",
    bias: np.ndarray | None = None,
) -> Path:
    """Build, check and write one graph; returns ``path``."""
    import onnx

    model = build(table, metadata, int8, prior, norm, bias)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path


def weights_of(path: Path) -> tuple[np.ndarray, float]:
    """The folded fp32 table (dequantised for int8) and prior count of a model file.

    PyTorch loads them to run the same model eagerly.
    """
    import onnx
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    prior = float(inits["prior"]) if "prior" in inits else 0.0
    if "table" in inits:
        return np.asarray(inits["table"], dtype=np.float32), prior
    return inits["table_q"].astype(np.float32) * inits["scale"], prior
