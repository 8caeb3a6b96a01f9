"""Review sentiment: the fast tier (hashed n-grams, ONNX Runtime), training and export.

Serving needs only :mod:`models.sentiment.engine` (numpy + onnxruntime) and the
committed model in ``models/artifacts/sentiment-fast/``; training needs the
``train`` extra (torch, onnx): ``python -m models.sentiment.train``.
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
