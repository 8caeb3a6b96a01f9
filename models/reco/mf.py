"""Online matrix factorisation, one event at a time: ratings (BiasedMF) and implicit ranking (BPR).

:class:`BiasedMF` is river's ``reco.BiasedMF`` (global mean + user and item biases +
a dot product of latent factors, plain SGD on the squared loss, gradients from the
values before the step) on numpy rows, so a step costs a handful of vector
operations and every item can be scored in one matrix product. With river's
documented settings it gives river's figures (``bench/reco.py`` runs both).

:class:`BPRMF` learns a ranking from positive feedback only: each event ``(u, i)``
is paired with a negative item ``j`` drawn uniformly from the items seen so far,
and one SGD step raises ``x_ui - x_uj`` (Rendle et al.,
2009), scaled by the event's weight (view < cart < purchase). The draw comes from a
seeded counter hash, so replicas draw alike.

>>> mf = BiasedMF(n_factors=2, seed=1)
>>> for user, item, y in [("a", "x", 5.0), ("b", "x", 4.0), ("a", "y", 1.0)]:
...     mf.learn_one(user, item, y)
>>> round(mf.predict_one("b", "x"), 3), round(mf.predict_one("nobody", "nothing"), 3)
(3.289, 3.333)
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from models.exceptions import InvalidInputError, InvalidStateError
from models.reco.table import FactorTable
from models.reco.topk import top_items

MASK64 = (1 << 64) - 1


class BiasedMF:
    """Rating prediction: ``mean + b_u + b_i + p_u . q_i``, plain SGD on ``(y - pred)**2``.

    Parameters are river's (``lr_bias`` and ``lr_latent`` are its two SGD rates);
    ``clip`` bounds predictions (river's ``PredClipper``). Unknown users or items
    predict from the parts that are known.
    """

    def __init__(
        self,
        n_factors: int = 10,
        lr_bias: float = 0.025,
        lr_latent: float = 0.05,
        l2_bias: float = 0.0,
        l2_latent: float = 0.0,
        init_std: float = 0.1,
        clip: tuple[float, float] | None = None,
        bias_prior: float | None = None,
        huber: float | None = None,
        seed: int = 0,
    ):
        self.n_factors, self.lr_bias, self.lr_latent = n_factors, lr_bias, lr_latent
        self.l2_bias, self.l2_latent, self.init_std = l2_bias, l2_latent, init_std
        self.clip, self.bias_prior, self.huber, self.seed = clip, bias_prior, huber, seed
        self.users = FactorTable(n_factors, init_std, seed)
        self.items = FactorTable(n_factors, init_std, seed + 1)
        self.n, self.mean = 0, 0.0

    def _raw(self, u: int | None, i: int | None) -> float:
        pred = self.mean
        if u is not None:
            pred += self.users.bias[u]
        if i is not None:
            pred += self.items.bias[i]
            if u is not None:
                pred += float(self.users.factors[u] @ self.items.factors[i])
        return pred

    def predict_one(self, user: str, item: str) -> float:
        """The predicted rating (clipped when ``clip`` is set)."""
        pred = float(self._raw(self.users.get(user), self.items.get(item)))
        return pred if self.clip is None else min(max(pred, self.clip[0]), self.clip[1])

    def learn_one(self, user: str, item: str, y: float) -> None:
        """One SGD step towards rating ``y`` (the global mean is updated first, as river does)."""
        if not math.isfinite(y):
            raise InvalidInputError(f"learn_one needs a finite rating, got {y!r}")
        u, i = self.users.row(user), self.items.row(item)
        self.n += 1
        self.mean += (y - self.mean) / self.n
        err = self._raw(u, i) - y
        if self.huber is not None:
            err = min(max(err, -self.huber), self.huber)
        grad = 2.0 * err
        users, items = self.users, self.items
        lr_u = lr_i = self.lr_bias
        if self.bias_prior is not None:  # a running mean at first, then the fixed rate
            users.count[u] += 1.0
            items.count[i] += 1.0
            lr_u = max(lr_u, 0.5 / (users.count[u] + self.bias_prior))
            lr_i = max(lr_i, 0.5 / (items.count[i] + self.bias_prior))
        users.bias[u] -= lr_u * (grad + self.l2_bias * users.bias[u])
        items.bias[i] -= lr_i * (grad + self.l2_bias * items.bias[i])
        p, q = users.factors[u], items.factors[i]
        step = self.lr_latent * grad
        step_p = step * q
        if self.l2_latent:
            step_p += (self.lr_latent * self.l2_latent) * p
            q *= 1.0 - self.lr_latent * self.l2_latent
        q -= step * p
        p -= step_p

    def rank(
        self, user: str, k: int = 10, exclude: Collection[str] = ()
    ) -> list[tuple[str, float]]:
        """Items by predicted rating, best first (empty for an unknown user)."""
        u = self.users.get(user)
        if u is None or k <= 0:
            return []
        n = len(self.items)
        scores = self.items.factors[:n] @ self.users.factors[u] + self.items.bias[:n]
        return top_items(self.items.ids, scores, k, exclude)

    def forget_user(self, user: str) -> None:
        """Drop ``user``'s row (bounds: :class:`~models.reco.hybrid.Recommender` evicts)."""
        self.users.remove(user)

    def forget_item(self, item: str) -> None:
        """Drop ``item``'s row."""
        self.items.remove(item)

    def to_state(self) -> dict[str, Any]:
        return {
            "params": self._params(),
            "n": self.n,
            "mean": self.mean,
            "users": self.users.to_state(),
            "items": self.items.to_state(),
        }

    def _params(self) -> dict[str, Any]:
        names = (
            "n_factors",
            "lr_bias",
            "lr_latent",
            "l2_bias",
            "l2_latent",
            "init_std",
            "bias_prior",
            "huber",
            "seed",
        )
        params = {name: getattr(self, name) for name in names}
        params["clip"] = list(self.clip) if self.clip else None
        return params

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BiasedMF:
        try:
            params = dict(state["params"])
            params["clip"] = tuple(params["clip"]) if params["clip"] else None
            model = cls(**params)
            model.n, model.mean = int(state["n"]), float(state["mean"])
            model.users = FactorTable.from_state(state["users"])
            model.items = FactorTable.from_state(state["items"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidStateError(f"malformed BiasedMF state: {exc!r}") from exc
        return model


class BPRMF:
    """Implicit-feedback ranking: ``x_ui = b_i + p_u . q_i`` learned by BPR with uniform negatives.

    >>> bpr = BPRMF(n_factors=4, seed=3)
    >>> for t in range(600):
    ...     bpr.learn_one(f"u{t % 7}", "hit" if t % 3 else f"i{t % 13}", 1.0)
    >>> bpr.rank("u1", k=1)[0][0]
    'hit'
    """

    def __init__(
        self,
        n_factors: int = 16,
        lr: float = 0.05,
        l2: float = 0.001,
        init_std: float = 0.05,
        seed: int = 0,
    ):
        self.n_factors, self.lr, self.l2, self.init_std, self.seed = (
            n_factors,
            lr,
            l2,
            init_std,
            seed,
        )
        self.users = FactorTable(n_factors, init_std, seed)
        self.items = FactorTable(n_factors, init_std, seed + 1)
        self.draws = 0

    def _negative(self, i: int) -> int | None:
        """A uniformly drawn item row other than ``i`` (by a counter hash), or None."""
        self.draws += 1
        j = _mix(self.seed, self.draws) % len(self.items)
        return None if j == i else j

    def learn_one(self, user: str, item: str, weight: float = 1.0) -> None:
        """One BPR step for the positive ``(user, item)``, ``weight`` times the rate."""
        if not (math.isfinite(weight) and weight >= 0.0):
            raise InvalidInputError(f"learn_one needs a finite weight >= 0, got {weight!r}")
        u, i = self.users.row(user), self.items.row(item)
        j = self._negative(i)
        if j is None or weight == 0.0:
            return
        users, items = self.users, self.items
        p, qi, qj, bias = users.factors[u], items.factors[i], items.factors[j], items.bias
        diff = qi - qj
        x = bias[i] - bias[j] + float(p @ diff)
        g = weight * self.lr / (1.0 + math.exp(min(x, 30.0)))  # lr * weight * sigmoid(-x)
        keep = 1.0 - self.lr * self.l2  # the L2 step, as a shrink
        bias[i] = bias[i] * keep + g
        bias[j] = bias[j] * keep - g
        gp = g * p
        diff *= g
        p *= keep
        p += diff
        qi *= keep
        qi += gp
        qj *= keep
        qj -= gp

    def rank(
        self, user: str, k: int = 10, exclude: Collection[str] = ()
    ) -> list[tuple[str, float]]:
        """Items by ``b_i + p_u . q_i``, best first (empty for an unknown user)."""
        u = self.users.get(user)
        if u is None or k <= 0:
            return []
        n = len(self.items)
        scores = self.items.factors[:n] @ self.users.factors[u] + self.items.bias[:n]
        return top_items(self.items.ids, scores, k, exclude)

    def forget_user(self, user: str) -> None:
        """Drop ``user``'s row (bounds: :class:`~models.reco.hybrid.Recommender` evicts)."""
        self.users.remove(user)

    def forget_item(self, item: str) -> None:
        """Drop ``item``'s row."""
        self.items.remove(item)

    def to_state(self) -> dict[str, Any]:
        names = ("n_factors", "lr", "l2", "init_std", "seed")
        return {
            "params": {name: getattr(self, name) for name in names},
            "draws": self.draws,
            "users": self.users.to_state(),
            "items": self.items.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BPRMF:
        try:
            model = cls(**state["params"])
            model.draws = int(state["draws"])
            model.users = FactorTable.from_state(state["users"])
            model.items = FactorTable.from_state(state["items"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidStateError(f"malformed BPRMF state: {exc!r}") from exc
        return model


def _mix(seed: int, counter: int) -> int:
    """splitmix64 of ``seed`` and ``counter``: a reproducible pseudo-random 64-bit integer."""
    z = (seed * 0x9E3779B97F4A7C15 + counter * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)
