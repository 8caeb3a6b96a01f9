"""Errors of the graph package (which never imports ``streams``, Faust or Kafka).

>>> issubclass(InvalidEventError, ValueError), issubclass(SnapshotError, GraphError)
(True, True)
"""

from __future__ import annotations


class GraphError(Exception):
    """Root of every error the graph raises on purpose."""


class InvalidParameterError(GraphError, ValueError):
    """A constructor argument is out of range; the message names it."""


class InvalidEventError(GraphError, ValueError):
    """A feedback record given to ``apply`` cannot be applied; the graph is unchanged."""


class SnapshotError(GraphError, ValueError):
    """A snapshot file is missing, damaged or of another format version."""
