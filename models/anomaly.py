"""Unusually fast sales of one product: a river detector over its units sold per hour.

:class:`SalesVelocity` learns one value per completed hour of event time, the
units the product sold in that hour (hours without a sale count as 0, learned
in bulk by :meth:`~SalesVelocity.learn_idle`). Counts go through Anscombe's
transform, ``2 * sqrt(units + 3/8)``, under which a Poisson count is close to a
Gaussian of deviation 1 whatever its rate; their mean and variance are river's
Welford :class:`river.stats.Var`, whose count is capped at ``memory`` hours, so
older hours fade (a new hour always weighs at least ``1 / memory``).

:meth:`~SalesVelocity.score_one` scores the units of the trailing hour, one-sided
(slow sales are not anomalous here): with ``z`` the transformed units above the
mean in deviations (at least ``min_std``, 1: Poisson noise), the score is
``Phi(z) ** horizon``, the chance that ``horizon`` ordinary hours (a week by
default) all stay below this one. It reaches 0.9 near ``z = 3.2``.

The state is three numbers (:meth:`~SalesVelocity.to_state`): it lives inside
the product's state and is restored with it from the table changelog, so a
replay scores as the first run did.

>>> d = SalesVelocity(grace_period=3)
>>> for units in [10, 12, 9, 11, 10, 8, 12, 10]:
...     d.learn_one(None, units)
>>> d.ready, d.score_one(None, 10) < 0.01, d.score_one(None, 40) > 0.99
(True, True, True)
>>> SalesVelocity.from_state(d.to_state()).to_state() == d.to_state()
True
"""

from __future__ import annotations

import math
from typing import Any

from river import base, stats
from river.base.typing import Target

from models.exceptions import InvalidParameterError, InvalidStateError

#: Reported as ``anomaly_model_version``; change it when the defaults or the scoring change.
MODEL_VERSION = "sales-velocity-1"


def stabilised(units: float) -> float:
    """Anscombe's transform of a count: about Gaussian, deviation 1, for Poisson counts.

    >>> round(stabilised(0), 4), round(stabilised(10), 4)
    (1.2247, 6.442)
    """
    return 2.0 * math.sqrt(units + 0.375)


_IDLE = stabilised(0)


class SalesVelocity(base.SupervisedAnomalyDetector):
    """A product's hourly units sold as a Gaussian; a one-sided score in [0, 1].

    ``grace_period``: hours learned before any score above 0 (see :attr:`ready`);
    ``memory``: most hours the mean and variance weigh; ``horizon``: hours the
    score is calibrated over; ``min_std``: the least deviation (transformed units).
    """

    def __init__(
        self,
        grace_period: int = 24,
        memory: int = 336,
        horizon: int = 168,
        min_std: float = 1.0,
    ):
        _check(grace_period, memory, horizon, min_std)
        self.grace_period = grace_period
        self.memory = memory
        self.horizon = horizon
        self.min_std = min_std
        self._var = stats.Var()

    @property
    def ready(self) -> bool:
        """Whether enough hours were learned to score."""
        return self._var.n >= self.grace_period

    def learn_one(self, x: dict[Any, Any] | None, y: Target) -> None:
        """Learn ``y``, the units sold in one completed hour (``x`` is unused)."""
        self._var.update(stabilised(float(y)))
        self._forget()

    def learn_idle(self, hours: int) -> None:
        """Learn ``hours`` completed hours without a sale, in O(1).

        >>> a, b = SalesVelocity(), SalesVelocity()
        >>> a.learn_one(None, 4); a.learn_idle(3)
        >>> for units in [4, 0, 0, 0]: b.learn_one(None, units)
        >>> [round(v, 9) for v in a.to_state()] == [round(v, 9) for v in b.to_state()]
        True
        """
        if hours > 0:
            self._var.update(_IDLE, hours)  # weight k: exactly k equal values
            self._forget()

    def score_one(self, x: dict[Any, Any] | None, y: Target) -> float:
        """How anomalous ``y`` units in the trailing hour are, in [0, 1] (0 until :attr:`ready`)."""
        if not self.ready:
            return 0.0
        value, mean = stabilised(float(y)), self._var.mean.get()
        if value <= mean:
            return 0.0
        std = max(math.sqrt(self._var.get()), self.min_std)
        tail = 0.5 * math.erfc((value - mean) / (std * math.sqrt(2.0)))  # 1 - Phi(z), accurately
        return math.exp(self.horizon * math.log1p(-tail)) if tail < 1.0 else 0.0

    def _forget(self) -> None:
        var = self._var
        if var.n > self.memory:
            self._var = stats.Var._from_state(self.memory, var.mean.get(), var.get())

    def to_state(self) -> list[float]:
        """``[hours, mean, variance]`` (transformed): JSON-able; :meth:`from_state` restores it."""
        var = self._var
        return [float(var.n), var.mean.get(), var.get()]

    @classmethod
    def from_state(cls, state: list[float], **params: Any) -> SalesVelocity:
        """The detector :meth:`to_state` described, with ``params`` as its constructor's."""
        detector = cls(**params)
        try:
            n, mean, variance = (float(v) for v in state)
        except (TypeError, ValueError) as exc:
            raise InvalidStateError(f"not a sales-velocity state: {state!r}") from exc
        if n > 0:
            detector._var = stats.Var._from_state(n, mean, variance)
        return detector


def _check(grace_period: int, memory: int, horizon: int, min_std: float) -> None:
    """Fail fast, naming the argument, when a constructor argument is out of range."""
    for name, value in [("grace_period", grace_period), ("memory", memory), ("horizon", horizon)]:
        if not (isinstance(value, int) and value >= 1):
            raise InvalidParameterError(f"{name} must be an integer >= 1, got {value!r}")
    if not (isinstance(min_std, int | float) and math.isfinite(min_std) and min_std > 0):
        raise InvalidParameterError(f"min_std must be a finite number > 0, got {min_std!r}")
