"""The demo workload: deterministic, valid, shop-shaped (Zipf, funnels, stock, reviews)."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import pytest

from streams.codec import Rejection, decode, encode
from streams.demo import REORDER_POINT, DemoWorkload, Item, review_texts
from streams.schemas import INPUT_SCHEMAS, ClickEvent, ProductEvent, ReviewEvent, SaleEvent

T0 = 1_700_000_000.0
N = 60_000


class FakeClock:
    """Ticks 10 ms per call, and remembers what it said."""

    def __init__(self) -> None:
        self.said: list[float] = []

    def __call__(self) -> float:
        self.said.append(T0 + 0.01 * len(self.said))
        return self.said[-1]


def take(workload: DemoWorkload, n: int = N) -> list[Item]:
    return list(itertools.islice(workload, n))


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def shop(clock: FakeClock) -> DemoWorkload:
    return DemoWorkload(seed=3, clock=clock)


@pytest.fixture(scope="module")
def catalog(shop: DemoWorkload) -> list[ProductEvent]:
    return shop.initial_catalog()


@pytest.fixture(scope="module")
def items(shop: DemoWorkload, catalog: list[ProductEvent]) -> list[Item]:
    return take(shop)


def events(items: list[Item], kind: type) -> list:
    return [e for _, e in items if isinstance(e, kind)]


def views(items: list[Item]) -> list[ClickEvent]:
    return [e for e in events(items, ClickEvent) if e.action == "view"]


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    first = take(DemoWorkload(seed=5, clock=FakeClock()), 5_000)
    again = take(DemoWorkload(seed=5, clock=FakeClock()), 5_000)
    other = take(DemoWorkload(seed=6, clock=FakeClock()), 5_000)
    assert first == again
    assert [e for _, e in first if not isinstance(e, bytes)][0].event_id == "demo-5-0"
    assert [(t, getattr(e, "product_id", e)) for t, e in first] != [
        (t, getattr(e, "product_id", e)) for t, e in other
    ]


def test_catalog_describes_every_product(catalog: list[ProductEvent], shop: DemoWorkload) -> None:
    assert len(catalog) == shop.n_products == len({p.product_id for p in catalog})
    assert all(p.name and p.category_id and p.price and p.lead_time_days for p in catalog)
    assert len({p.category_id for p in catalog}) == shop.n_categories
    low = [p for p in catalog if p.stock is not None and p.stock <= REORDER_POINT + 5]
    assert 0.03 * len(catalog) < len(low) < 0.25 * len(catalog)


def test_every_event_survives_the_wire_and_ids_are_unique(
    items: list[Item], catalog: list[ProductEvent]
) -> None:
    models = [(t, e) for t, e in items if not isinstance(e, bytes)] + [
        ("products", p) for p in catalog
    ]
    for topic, event in models:
        assert isinstance(event, INPUT_SCHEMAS[topic])
        assert decode(topic, encode(event)) == event
    ids = [e.event_id for _, e in models]
    assert len(set(ids)) == len(ids)


def test_timestamps_come_from_the_clock(items: list[Item], clock: FakeClock) -> None:
    said = set(clock.said)
    assert all(e.ts in said for _, e in items if not isinstance(e, bytes))


def test_malformed_payloads_are_rare_raw_clicks_that_pulse_rejects(items: list[Item]) -> None:
    raw = [(t, e) for t, e in items if isinstance(e, bytes)]
    assert 0 < len(raw) < 0.01 * len(items)
    assert {t for t, _ in raw} == {"clicks"}
    reasons = Counter(r.reason for _, e in raw if isinstance(r := decode("clicks", e), Rejection))
    assert sum(reasons.values()) == len(raw)
    assert {"invalid_fields", "not_json", "not_utf8", "not_object"} <= set(reasons)


def test_malformed_payloads_can_be_switched_off() -> None:
    stream = take(DemoWorkload(seed=3, clock=FakeClock(), malformed_rate=0.0), 20_000)
    assert not any(isinstance(e, bytes) for _, e in stream)


def test_funnel_views_carts_sales(items: list[Item]) -> None:
    actions = Counter(e.action for e in events(items, ClickEvent))
    sales = len(events(items, SaleEvent))
    assert 0.05 < actions["add_to_cart"] / actions["view"] < 0.11
    assert 0.015 < sales / actions["view"] < 0.035
    assert 0 < actions["favorite"] < actions["add_to_cart"]


def test_popularity_is_zipf_skewed(items: list[Item], shop: DemoWorkload) -> None:
    per_product = sorted(Counter(e.product_id for e in views(items)).values(), reverse=True)
    top = per_product[: shop.n_products // 10]
    assert sum(top) > 0.5 * sum(per_product)
    assert per_product[0] > 20 * per_product[len(per_product) // 2]


def test_sessions_belong_to_one_user_and_sales_follow_carts(items: list[Item]) -> None:
    users: dict[str, set[str]] = defaultdict(set)
    carted: set[tuple[str, str]] = set()
    for click in events(items, ClickEvent):
        users[click.session_id].add(click.user_id)
        if click.action == "add_to_cart":
            carted.add((click.user_id, click.product_id))
    assert all(len(u) == 1 for u in users.values())
    assert len(users) > 1_000
    assert all((s.user_id, s.product_id) in carted for s in events(items, SaleEvent))


def test_stock_goes_down_with_sales_and_back_up_with_restocks(
    items: list[Item], catalog: list[ProductEvent]
) -> None:
    stock = {p.product_id: p.stock or 0 for p in catalog}
    restocks = 0
    for _, event in items:
        if isinstance(event, SaleEvent):
            stock[event.product_id] -= event.quantity
            assert stock[event.product_id] >= 0
        elif isinstance(event, ProductEvent) and event.stock is not None:
            assert event.stock > stock[event.product_id]
            stock[event.product_id], restocks = event.stock, restocks + 1
    assert restocks > 5
    assert sum(1 for level in stock.values() if level <= REORDER_POINT) > 5


def test_buyers_review_later_with_ratings_that_match_the_text(items: list[Item]) -> None:
    pos, neg = (set(texts) for texts in review_texts())
    bought: set[tuple[str, str]] = set()
    reviews = 0
    for _, event in items:
        if isinstance(event, SaleEvent):
            bought.add((event.user_id, event.product_id))
        elif isinstance(event, ReviewEvent):
            reviews += 1
            assert (event.user_id, event.product_id) in bought
            assert event.lang == "zh" and event.text
            assert event.rating in ((4, 5) if event.text in pos else (1, 2))
            assert event.text in pos | neg
    assert 0.1 * len(bought) < reviews < 0.5 * len(events(items, SaleEvent))


def test_review_texts_are_clean_and_loaded_only_when_needed() -> None:
    review_texts.cache_clear()
    DemoWorkload(seed=1, clock=FakeClock()).initial_catalog()
    assert review_texts.cache_info().misses == 0
    pos, neg = review_texts()
    for texts in (pos, neg):
        assert len(set(texts)) == len(texts) > 5_000  # 5,958 and 5,867 without the hotels
        assert all(t and t == t.strip() for t in texts)
        assert not [t for t in texts if "酒店" in t or "房间" in t], "the shop sells no hotel stays"
    assert not set(pos) & set(neg)


def test_options_are_checked_and_ids_can_be_prefixed() -> None:
    with pytest.raises(ValueError, match="n_products"):
        DemoWorkload(n_products=0)
    with pytest.raises(ValueError, match="malformed_rate"):
        DemoWorkload(malformed_rate=2.0)
    shop = DemoWorkload(seed=2, n_users=3, n_products=4, n_categories=2, id_prefix="run9")
    _, first = take(shop, 1)[0]
    assert first.event_id == "run9-0"  # type: ignore[union-attr]
    assert {e.user_id for _, e in take(shop, 500) if isinstance(e, ClickEvent)} <= {
        "u00000",
        "u00001",
        "u00002",
    }
