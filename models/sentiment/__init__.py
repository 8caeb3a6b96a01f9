"""Review sentiment over ONNX Runtime: the fast tier (hashed n-grams), transformers, routing.

Serving needs only :mod:`models.sentiment.engine` (numpy, onnxruntime, tokenizers)
and a model folder: the committed fast tier in ``models/artifacts/sentiment-fast/``,
an accurate (transformer) tier, any Hugging Face classifier exported with
``python -m models.sentiment.export_hf``, or a router folder over two of them.
Training and export need the ``train`` extra (torch, onnx, transformers):
``python -m models.sentiment.train`` (fast), ``python -m models.sentiment.finetune``
(accurate). See docs/sentiment.md.
"""

from models.sentiment.engine import (
    DEFAULT_MODEL_DIR,
    Prediction,
    SentimentEngine,
    verify_model,
)
from models.sentiment.exceptions import (
    InvalidModelError,
    ModelNotFoundError,
    ProviderUnavailableError,
)

__all__ = [
    "DEFAULT_MODEL_DIR",
    "InvalidModelError",
    "ModelNotFoundError",
    "Prediction",
    "ProviderUnavailableError",
    "SentimentEngine",
    "verify_model",
]
