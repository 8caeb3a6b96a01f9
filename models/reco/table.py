"""Rows of latent factors and biases, one per user or item id, with a JSON-able state.

Rows are numbered in order of first appearance; :meth:`FactorTable.remove` moves the
last row into the hole, so the rows stay dense and two replicas that saw the same
events (and removals) in the same order hold the same table. A new row starts from a
Normal(0, ``std``) draw: the ``n``-th row ever created takes row ``n % DRAW_BLOCK`` of a
block drawn by a generator seeded with ``(seed, n - n % DRAW_BLOCK)``, so initial values
depend on the seed and the creation count only, never on when the table grew or which
rows were removed, and a restored table goes on drawing exactly what the original would.

>>> t = FactorTable(n_factors=2, std=0.1, seed=7)
>>> t.row("a"), t.row("b"), t.row("a"), len(t)
(0, 1, 0, 2)
>>> u = FactorTable.from_state(t.to_state())
>>> bool((u.factors[:2] == t.factors[:2]).all()) and u.ids == t.ids
True
>>> b = t.factors[1].copy()
>>> t.remove("a")
>>> t.ids, bool((t.factors[0] == b).all())
(['b'], True)
>>> t.row("c"), t.created
(1, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.exceptions import InvalidStateError

#: Rows allocated at first, and the factor by which capacity grows.
FIRST_BLOCK, GROWTH = 1024, 2
#: Initial rows drawn at once (one generator per block of created rows).
DRAW_BLOCK = 1024


class FactorTable:
    """Ids to row numbers, with a ``(capacity, n_factors)`` factor matrix, biases and counts."""

    def __init__(self, n_factors: int, std: float, seed: int):
        self.n_factors, self.std, self.seed = n_factors, std, seed
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self.factors = np.zeros((0, n_factors))
        self.bias = np.zeros(0)
        self.count = np.zeros(0)
        #: Rows ever created (removed ones included): the next row's initial draw.
        self.created = 0
        self._drawn = np.zeros((0, n_factors))
        self._drawn_start = -DRAW_BLOCK  # no block drawn yet

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, key: str) -> int | None:
        """The row of ``key``, or None when it is unknown (nothing is created)."""
        return self.index.get(key)

    def row(self, key: str) -> int:
        """The row of ``key``, created (with its initial factors) on first sight."""
        index = self.index.get(key)
        if index is None:
            index = self.index[key] = len(self.ids)
            self.ids.append(key)
            if index >= len(self.bias):
                self._grow()
            created = self.created
            self.created = created + 1
            offset = created - self._drawn_start
            if not 0 <= offset < DRAW_BLOCK:
                offset = self._draw(created)
            self.factors[index] = self._drawn[offset]
        return index

    def remove(self, key: str) -> None:
        """Forget ``key``'s row (nothing when unknown); the last row moves into its place."""
        index = self.index.pop(key, None)
        if index is None:
            return
        moved, last = self.ids.pop(), len(self.ids)
        if index != last:
            self.ids[index], self.index[moved] = moved, index
            self.factors[index] = self.factors[last]
            self.bias[index], self.count[index] = self.bias[last], self.count[last]
        self.bias[last] = self.count[last] = 0.0  # free rows hold zeros (factors: drawn anew)

    def _draw(self, created: int) -> int:
        """Draw the block of initial rows holding creation number ``created``; its offset."""
        start = created - created % DRAW_BLOCK
        rng = np.random.default_rng([self.seed, start])
        shape = (DRAW_BLOCK, self.n_factors)
        self._drawn = rng.normal(0.0, self.std, size=shape) if self.std else np.zeros(shape)
        self._drawn_start = start
        return created - start

    def _grow(self) -> None:
        size = max(FIRST_BLOCK, len(self.bias) * (GROWTH - 1))
        self.factors = np.vstack([self.factors, np.zeros((size, self.n_factors))])
        self.bias = np.concatenate([self.bias, np.zeros(size)])
        self.count = np.concatenate([self.count, np.zeros(size)])

    def to_state(self) -> dict[str, Any]:
        n = len(self.ids)
        return {
            "n_factors": self.n_factors,
            "std": self.std,
            "seed": self.seed,
            "created": self.created,
            "ids": list(self.ids),
            "factors": self.factors[:n].tolist(),
            "bias": self.bias[:n].tolist(),
            "count": self.count[:n].tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FactorTable:
        table = cls(int(state["n_factors"]), float(state["std"]), int(state["seed"]))
        ids = [str(key) for key in state["ids"]]
        n, table.created = len(ids), int(state["created"])
        if n > table.created or len(state["factors"]) != n or len(set(ids)) != n:
            raise InvalidStateError("factor table: ids, factors and created rows disagree")
        while len(table.bias) < n:
            table._grow()
        table.ids, table.index = ids, {key: i for i, key in enumerate(ids)}
        if n:
            table.factors[:n] = np.asarray(state["factors"], dtype=np.float64)
            table.bias[:n] = np.asarray(state["bias"], dtype=np.float64)
            table.count[:n] = np.asarray(state["count"], dtype=np.float64)
        return table
