"""The sales-velocity detector: spikes score high, ordinary hours low, state survives JSON."""

from __future__ import annotations

import random

import orjson
import pytest

from models.anomaly import SalesVelocity
from models.exceptions import InvalidParameterError, InvalidStateError


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth), so the test needs nothing beyond the standard library."""
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def trained(mean: float, hours: int = 24 * 14, seed: int = 1) -> SalesVelocity:
    rng, detector = random.Random(seed), SalesVelocity()
    for _ in range(hours):
        detector.learn_one(None, poisson(rng, mean))
    return detector


@pytest.mark.parametrize("mean", [2.0, 10.0, 50.0])
def test_a_sudden_spike_scores_high(mean: float) -> None:
    detector = trained(mean)
    assert detector.score_one(None, 5 * mean + 10) > 0.99


@pytest.mark.parametrize("mean", [2.0, 10.0, 50.0])
def test_steady_sales_score_low(mean: float) -> None:
    detector, rng = trained(mean), random.Random(2)
    scores = [detector.score_one(None, poisson(rng, mean)) for _ in range(24 * 7)]
    assert max(scores) < 0.9, "an ordinary week of hours must not reach the rule's 0.9"
    assert sum(scores) / len(scores) < 0.05


def test_slow_hours_are_not_anomalous() -> None:
    assert trained(10.0).score_one(None, 0) == 0.0


def test_a_rare_seller_is_not_alarmed_by_one_sale() -> None:
    detector = SalesVelocity()
    for _ in range(20):
        detector.learn_one(None, 0)
        detector.learn_idle(9)
    detector.learn_one(None, 1)
    assert detector.score_one(None, 2) < 0.5
    assert detector.score_one(None, 12) > 0.9


def test_nothing_scores_before_the_grace_period() -> None:
    detector = SalesVelocity(grace_period=24)
    for _ in range(23):
        detector.learn_one(None, 3)
    assert not detector.ready and detector.score_one(None, 1000) == 0.0
    detector.learn_idle(1)
    assert detector.ready and detector.score_one(None, 1000) == 1.0


def test_idle_hours_in_bulk_equal_one_by_one() -> None:
    bulk, single = trained(4.0, hours=30), trained(4.0, hours=30)
    bulk.learn_idle(7)
    for _ in range(7):
        single.learn_one(None, 0)
    assert bulk.to_state() == pytest.approx(single.to_state())


def test_old_hours_fade_after_memory() -> None:
    detector = SalesVelocity(memory=48)
    for _ in range(500):
        detector.learn_one(None, 100)
    assert detector.score_one(None, 100) == 0.0
    for _ in range(300):
        detector.learn_one(None, 10)
    assert detector.to_state()[0] == 48
    assert detector.score_one(None, 100) > 0.99


def test_state_survives_json_and_scores_the_same() -> None:
    detector = trained(7.0)
    restored = SalesVelocity.from_state(orjson.loads(orjson.dumps(detector.to_state())))
    assert [restored.score_one(None, y) for y in (5, 15, 25)] == [
        detector.score_one(None, y) for y in (5, 15, 25)
    ]


def test_bad_params_and_states_fail_with_the_name() -> None:
    with pytest.raises(InvalidParameterError, match="memory"):
        SalesVelocity(memory=0)
    with pytest.raises(InvalidParameterError, match="min_std"):
        SalesVelocity(min_std=float("nan"))
    with pytest.raises(InvalidStateError):
        SalesVelocity.from_state(["a", 1.0, 2.0])
