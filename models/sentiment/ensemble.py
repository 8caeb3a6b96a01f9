"""Several models as one: probabilities averaged with fixed weights (chosen on the dev split).

An ensemble folder has a ``card.json`` of ``"kind": "ensemble"``::

    {"kind": "ensemble", "name": "...", "version": "...", "languages": ["zh"],
     "members": ["../sentiment-fast", "../sentiment-accurate-zh"], "weights": [0.4, 0.6]}

Member folders are relative to the ensemble's folder and must share their labels;
weights are positive and sum to 1. The ensemble serves as one tier, so a router
route may point at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.sentiment import card as cards
from models.sentiment.exceptions import InvalidModelError


class EnsembleTier:
    """Members' probabilities, weighted; quacks like :class:`~models.sentiment.tiers.Tier`."""

    inputs = None

    def __init__(self, members: Sequence[Any], weights: Sequence[float]) -> None:
        self.members = tuple(members)
        self.weights = np.asarray(weights, dtype=np.float32)
        self.labels = members[0].labels
        self.session = members[0].session
        self.max_batch = members[0].max_batch
        self.pad_budget = members[0].pad_budget
        self.io_binding = members[0].io_binding
        fp16 = any(m.precision == "fp16" for m in members)
        self.precision = "fp16" if fp16 else "fp32"

    @property
    def active_provider(self) -> str:
        return str(self.members[-1].active_provider)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        out = self.weights[0] * self.members[0].probabilities(texts)
        for w, member in zip(self.weights[1:], self.members[1:], strict=True):
            out += w * member.probabilities(texts)
        return out


def read(folder: Path, card: dict[str, Any]) -> tuple[list[Path], list[float]]:
    """Member folders and weights of an ensemble card, checked."""
    where = folder / cards.CARD
    members, weights = card.get("members") or [], card.get("weights") or []
    if len(members) < 2 or len(members) != len(weights):
        raise InvalidModelError(f"{where}: needs two or more members and a weight for each")
    if any(w <= 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-6:
        raise InvalidModelError(f"{where}: weights must be positive and sum to 1, got {weights}")
    return [(folder / m).resolve() for m in members], [float(w) for w in weights]


def check(where: Path, members: Sequence[Any]) -> None:
    labels = {m.labels for m in members}
    if len(labels) != 1:
        raise InvalidModelError(f"{where}: members' labels differ: {sorted(labels)}")
