"""Errors of the sentiment models; all are :class:`models.exceptions.ModelError`.

>>> issubclass(ProviderUnavailableError, ModelError), issubclass(ModelNotFoundError, FileNotFoundError)
(True, True)
"""

from __future__ import annotations

from models.exceptions import ModelError


class ModelNotFoundError(ModelError, FileNotFoundError):
    """No model file (or card) where one was asked for; the message names the path."""


class InvalidModelError(ModelError, ValueError):
    """A model file that cannot serve: unreadable, wrong inputs/outputs, or bad probe output."""


class ProviderUnavailableError(ModelError, RuntimeError):
    """A GPU was required but ONNX Runtime did not start one; the message says what to change."""
