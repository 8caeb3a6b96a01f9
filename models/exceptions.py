"""Errors of the models package (which never imports ``streams``).

>>> issubclass(InvalidParameterError, ValueError), issubclass(InvalidInputError, ModelError)
(True, True)
"""

from __future__ import annotations


class ModelError(Exception):
    """Root of every error a model raises on purpose."""


class InvalidParameterError(ModelError, ValueError):
    """A constructor argument is out of range; the message names it."""


class InvalidInputError(ModelError, ValueError):
    """A value given to ``learn_one`` (or another update) cannot be learned."""


class InvalidStateError(ModelError, ValueError):
    """A snapshot given to ``from_state`` is not one this model wrote."""
