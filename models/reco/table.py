"""Growable rows of latent factors and biases, one per user or item id, with a JSON-able state.

Rows are numbered in order of first appearance, so two replicas that saw the same
events in the same order hold the same table. New rows start from a Normal(0, ``std``)
draw made once per capacity block by a generator seeded with ``(seed, block start)``:
the initial values depend on the seed and the row number only, never on when the
table grew, and a restored table goes on drawing exactly what the original would.

>>> t = FactorTable(n_factors=2, std=0.1, seed=7)
>>> t.row("a"), t.row("b"), t.row("a"), len(t)
(0, 1, 0, 2)
>>> u = FactorTable.from_state(t.to_state())
>>> bool((u.factors[:2] == t.factors[:2]).all()) and u.ids == t.ids
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.exceptions import InvalidStateError

#: Rows allocated at first, and the factor by which capacity grows.
FIRST_BLOCK, GROWTH = 1024, 2


class FactorTable:
    """Ids to row numbers, with a ``(capacity, n_factors)`` factor matrix, biases and counts."""

    def __init__(self, n_factors: int, std: float, seed: int):
        self.n_factors, self.std, self.seed = n_factors, std, seed
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self.factors = np.zeros((0, n_factors))
        self.bias = np.zeros(0)
        self.count = np.zeros(0)

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, key: str) -> int | None:
        """The row of ``key``, or None when it was never seen (nothing is created)."""
        return self.index.get(key)

    def row(self, key: str) -> int:
        """The row of ``key``, created (with its initial factors) on first sight."""
        index = self.index.get(key)
        if index is None:
            index = self.index[key] = len(self.ids)
            self.ids.append(key)
            if index >= len(self.bias):
                self._grow()
        return index

    def _grow(self) -> None:
        start = len(self.bias)
        size = max(FIRST_BLOCK, start * (GROWTH - 1))
        rng = np.random.default_rng([self.seed, start])
        block = rng.normal(0.0, self.std, size=(size, self.n_factors)) if self.std else None
        fresh = np.zeros((size, self.n_factors)) if block is None else block
        self.factors = np.vstack([self.factors, fresh])
        self.bias = np.concatenate([self.bias, np.zeros(size)])
        self.count = np.concatenate([self.count, np.zeros(size)])

    def to_state(self) -> dict[str, Any]:
        n = len(self.ids)
        return {
            "n_factors": self.n_factors,
            "std": self.std,
            "seed": self.seed,
            "capacity": len(self.bias),
            "ids": list(self.ids),
            "factors": self.factors[:n].tolist(),
            "bias": self.bias[:n].tolist(),
            "count": self.count[:n].tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FactorTable:
        table = cls(int(state["n_factors"]), float(state["std"]), int(state["seed"]))
        while len(table.bias) < int(state["capacity"]):
            table._grow()
        ids = [str(key) for key in state["ids"]]
        if len(ids) > len(table.bias) or len(state["factors"]) != len(ids):
            raise InvalidStateError("factor table: ids, factors and capacity disagree")
        n = len(ids)
        table.ids, table.index = ids, {key: i for i, key in enumerate(ids)}
        if n:
            table.factors[:n] = np.asarray(state["factors"], dtype=np.float64)
            table.bias[:n] = np.asarray(state["bias"], dtype=np.float64)
            table.count[:n] = np.asarray(state["count"], dtype=np.float64)
        return table
