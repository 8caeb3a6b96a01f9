"""bench/e2e.py's pure parts: the stream mixer and the latency figures. No broker, no data."""

from __future__ import annotations

import doctest
import math
from collections import Counter

import orjson
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from bench import e2e
from bench.e2e import (
    Mix,
    MixedStream,
    Sources,
    histogram_buckets,
    histogram_delta,
    histogram_quantile,
    match_latencies,
    payloads,
    quantiles,
)
from streams.codec import Rejection, decode
from streams.metrics import Metrics
from streams.schemas import ClickEvent, ProductEvent, ReviewEvent, SaleEvent

T0 = 1_511_658_000.0


@pytest.fixture
def sources() -> Sources:
    """40 clicks by 8 users on 5 products over 40 s, 4 buys, 6 reviews without owners."""
    actions = ("view", "view", "view", "add_to_cart", "favorite")
    clicks = [
        ClickEvent(
            event_id=f"taobao:{i}",
            ts=T0 + i,
            user_id=f"u{i % 8}",
            product_id=f"p{i % 5}",
            action=actions[i % 5],
            category_id="c1",
        )
        for i in range(1, 41)
    ]
    sales = [
        SaleEvent(event_id=f"taobao:{100 + i}", ts=T0 + 10 * i, user_id="u1", product_id="p1")
        for i in range(4)
    ]
    reviews = [
        ReviewEvent(
            event_id=f"reviews:{i}",
            ts=1.0e9,
            user_id="anonymous",
            product_id="unknown",
            text=f"review number {i}",
            rating=1 + i % 5,
        )
        for i in range(6)
    ]
    return Sources(clicks, sales, reviews)


def test_doctests() -> None:
    assert doctest.testmod(e2e).failed == 0


def test_mix_parse_and_only() -> None:
    mix = Mix.parse("clicks=9,sales=0.5,reviews=0.5")
    assert mix.shares() == {"clicks": 0.9, "sales": 0.05, "reviews": 0.05, "products": 0.0}
    assert Mix().only("clicks", "sales").shares()["reviews"] == 0.0
    with pytest.raises(ValueError, match="unknown topics"):
        Mix.parse("click=1")
    with pytest.raises(ValueError, match="not all 0"):
        Mix(0, 0, 0, 0).shares()


def test_proportions_follow_the_mix(sources: Sources) -> None:
    mix = Mix(clicks=0.90, sales=0.03, reviews=0.05, products=0.02)
    n = 20_000
    counted = Counter(topic for topic, _ in MixedStream(sources, mix, seed=1).take(n))
    for topic, share in mix.shares().items():
        assert abs(counted[topic] / n - share) < 0.01, (topic, counted[topic])


def test_clicks_and_sales_only(sources: Sources) -> None:
    pairs = MixedStream(sources, Mix().only("clicks", "sales"), seed=1).take(2_000)
    assert {topic for topic, _ in pairs} == {"clicks", "sales"}
    clicks = [e for t, e in pairs if t == "clicks"]
    assert [e.event_id for e in clicks[:40]] == [e.event_id for e in sources.clicks]


def test_same_seed_same_stream_other_seed_other_stream(sources: Sources) -> None:
    def stream(seed: int) -> list[tuple[str, bytes, bytes, str]]:
        return list(payloads(MixedStream(sources, Mix(), seed).take(3_000)))

    assert stream(7) == stream(7)
    assert stream(7) != stream(8)


def test_event_ids_unique_across_passes(sources: Sources) -> None:
    items = list(payloads(MixedStream(sources, Mix(), seed=3).take(5_000)))  # ~100 passes
    ids = [event_id for *_, event_id in items]
    assert len(set(ids)) == len(ids)
    assert any(event_id.endswith("@2") for event_id in ids)


def test_reviews_and_products_concern_the_clicks_catalogue(sources: Sources) -> None:
    pairs = MixedStream(sources, Mix(), seed=5).take(5_000)
    users = {c.user_id for c in sources.clicks}
    products = {c.product_id for c in sources.clicks}
    reviews = [e for t, e in pairs if t == "reviews"]
    updates = [e for t, e in pairs if t == "products"]
    assert reviews and updates
    assert all(isinstance(r, ReviewEvent) for r in reviews)
    assert {r.product_id for r in reviews} <= products  # type: ignore[union-attr]
    assert {r.user_id for r in reviews} <= users  # type: ignore[union-attr]
    assert all(isinstance(u, ProductEvent) and u.product_id in products for u in updates)
    texts = {r.text for r in sources.reviews}
    assert {r.text for r in reviews} <= texts  # type: ignore[union-attr]


def test_time_runs_on_across_passes(sources: Sources) -> None:
    pairs = MixedStream(sources, Mix(), seed=2).take(1_000)
    first_click = next(i for i, (t, _) in enumerate(pairs) if t == "clicks")
    stamps = [e.ts for _, e in pairs[first_click:]]  # type: ignore[attr-defined]
    assert stamps == sorted(stamps)
    assert stamps[0] == T0 + 1
    assert stamps[-1] > T0 + 3 * sources.span  # several passes, each a span later


def test_payloads_are_valid_events_keyed_by_product(sources: Sources) -> None:
    for topic, key, value, event_id in payloads(MixedStream(sources, Mix(), seed=4).take(500)):
        event = decode(topic, value, 65_536)
        assert not isinstance(event, Rejection), event
        assert event.event_id == event_id
        assert key == event.product_id.encode() == orjson.loads(value)["product_id"].encode()


def test_quantiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    q = quantiles(reversed(values))
    assert q["p50"] == pytest.approx(50.5)
    assert q["p95"] == pytest.approx(95.05)
    assert q["p99"] == pytest.approx(99.01)
    assert quantiles([3.0]) == {"p50": 3.0, "p95": 3.0, "p99": 3.0}
    assert all(math.isnan(v) for v in quantiles([]).values())


def test_match_latencies_times_known_triggers_and_counts_the_rest() -> None:
    stamps = {"a": 100.0, "b": 101.0}
    outputs = [("a", 100.5), ("b", 101.25), ("b", 102.0), ("tick:p1:9", 103.0), (None, 104.0)]
    latencies, unmatched = match_latencies(stamps, outputs)
    assert latencies == [0.5, 0.25, 1.0]
    assert unmatched == 2


def test_histogram_quantile_like_prometheus() -> None:
    buckets = {0.1: 10.0, 0.5: 60.0, 1.0: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.1, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * 40 / 50)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.5 + 0.5 * 39 / 40)
    assert histogram_quantile(0.99, {0.1: 1.0, math.inf: 100.0}) == 0.1  # in +Inf
    assert math.isnan(histogram_quantile(0.5, {0.1: 0.0, math.inf: 0.0}))


def test_histogram_of_a_phase_from_two_scrapes() -> None:
    metrics = Metrics(CollectorRegistry())
    latency = metrics.event_latency
    latency.labels(topic="clicks").observe(3.0)  # before the phase
    before = metrics.render().decode()
    for _ in range(99):
        latency.labels(topic="clicks").observe(0.02)
    latency.labels(topic="reviews").observe(0.2)
    after = metrics.render().decode()
    families = list(text_string_to_metric_families(after))
    assert any(f.name == e2e.LATENCY for f in families)
    delta = histogram_delta(
        histogram_buckets([before], e2e.LATENCY), histogram_buckets([after], e2e.LATENCY)
    )
    assert delta[math.inf] == 100
    assert 0.01 < histogram_quantile(0.5, delta) <= 0.025
    assert 0.1 < histogram_quantile(0.999, delta) <= 0.25
