"""Product state: totals, catalog facts, minute buckets and the two windows."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.schemas import ClickEvent, InputEvent, ProductEvent, ReviewEvent, SaleEvent
from streams.state import TOTALS, WINDOW_HOURS, WINDOW_MINUTES, ProductState, WindowCounts

#: The start of a minute (1_700_000_040 / 60 is a whole number).
T0 = 1_700_000_040.0
_ids = itertools.count()


def click(ts: float, action: str = "view") -> ClickEvent:
    return ClickEvent(event_id=f"c{next(_ids)}", ts=ts, user_id="u", product_id="p", action=action)  # type: ignore[arg-type]


def sale(ts: float, quantity: int = 1, price: float | None = None) -> SaleEvent:
    return SaleEvent(
        event_id=f"s{next(_ids)}",
        ts=ts,
        user_id="u",
        product_id="p",
        quantity=quantity,
        price=price,
    )


def review(ts: float, rating: int | None = None) -> ReviewEvent:
    return ReviewEvent(
        event_id=f"r{next(_ids)}", ts=ts, user_id="u", product_id="p", text="ok", rating=rating
    )


def product(ts: float, **facts: Any) -> ProductEvent:
    return ProductEvent(event_id=f"p{next(_ids)}", ts=ts, product_id="p", **facts)


def state_of(*events: InputEvent) -> ProductState:
    state = ProductState()
    for event in events:
        state.apply(event)
    return state


def json_round_trip(state: ProductState) -> ProductState:
    return ProductState.from_dict(orjson.loads(orjson.dumps(state.to_dict())))


def test_totals_count_each_kind() -> None:
    s = state_of(
        click(T0),
        click(T0, "add_to_cart"),
        click(T0, "favorite"),
        click(T0, "remove_from_cart"),
        sale(T0, 3, 2.5),
        sale(T0, 2),
        review(T0, 4),
        review(T0, 2),
        review(T0),
    )
    assert s.totals == {
        "views": 1,
        "carts": 1,
        "removals": 1,
        "favorites": 1,
        "orders": 2,
        "units": 5,
        "revenue": 7.5,
        "reviews": 3,
        "rating_sum": 6,
        "rating_count": 2,
    }
    assert s.avg_rating == 3.0
    assert s.conversion == 2.0


def test_remove_from_cart_is_not_bucketed_nor_subtracted() -> None:
    s = state_of(click(T0, "add_to_cart"), click(T0, "remove_from_cart"))
    assert s.totals["carts"] == 1
    assert s.tumbling_1m(T0).carts == 1


def test_conversion_is_none_without_views() -> None:
    s = state_of(sale(T0))
    assert s.conversion is None
    assert s.tumbling_1m(T0).conversion is None
    assert s.snapshot(T0)["totals"]["conversion"] is None


def test_tumbling_window_boundaries() -> None:
    s = state_of(click(T0 - 0.001), click(T0), click(T0 + 59.999), click(T0 + 60))
    w = s.tumbling_1m(T0 + 30)
    assert (w.start, w.end, w.views) == (T0, T0 + 60, 2)
    assert s.tumbling_1m(T0 - 1).views == 1
    assert s.tumbling_1m(T0 + 60).views == 1
    assert s.tumbling_1m(T0 + 120).views == 0


def test_hopping_window_covers_exactly_the_last_60_minutes() -> None:
    now = T0 + 59 * 60 + 10  # in minute T0 + 59: the window starts at T0
    s = state_of(click(T0 - 1), click(T0), click(now), sale(now, 2, 1.5))
    w = s.hopping_1h(now)
    assert (w.start, w.end) == (T0, T0 + 3600)
    assert (w.views, w.orders, w.units, w.revenue) == (2, 1, 2, 3.0)
    assert s.hopping_1h(now + 60).views == 1  # the minute of T0 has hopped out


def test_window_counts_every_slot() -> None:
    s = state_of(click(T0), click(T0, "add_to_cart"), sale(T0, 4, 0.5), review(T0, 5))
    assert s.tumbling_1m(T0) == WindowCounts(
        T0, T0 + 60, views=1, carts=1, orders=1, units=4, revenue=2.0, reviews=1
    )


def test_old_buckets_are_dropped_as_event_time_advances() -> None:
    s = state_of(click(T0), click(T0 + 60))
    s.apply(product(T0 + WINDOW_MINUTES * 60, stock=5))  # the newest minute is now T0 + 60 min
    assert sorted(s.buckets) == [int(T0 // 60) + 1]
    assert s.totals["views"] == 2


def test_out_of_order_event_too_old_for_buckets_counts_only_in_totals() -> None:
    newest = T0 + WINDOW_MINUTES * 60
    s = state_of(click(newest), click(T0), click(T0 + 60))
    assert s.totals["views"] == 3
    assert sorted(s.buckets) == [int(T0 // 60) + 1, int(newest // 60)]
    assert s.hopping_1h(newest).views == 2
    assert s.last_ts == newest


def test_memory_is_bounded_to_one_hour_of_buckets() -> None:
    s = state_of(*(click(T0 + 30 * i) for i in range(500)))
    assert len(s.buckets) == WINDOW_MINUTES
    assert s.totals["views"] == 500


def test_product_event_updates_only_the_fields_it_carries() -> None:
    s = state_of(product(T0, name="Lamp", price=9.5, stock=10))
    s.apply(product(T0 + 1, stock=4, lead_time_days=2.5))
    assert s.catalog == {
        "name": "Lamp",
        "category_id": None,
        "price": 9.5,
        "stock": 4,
        "stock_ts": T0 + 1,
        "lead_time_days": 2.5,
    }


def test_sale_decrements_known_stock_but_not_below_zero() -> None:
    s = state_of(product(T0, stock=5), sale(T0 + 1, 3))
    assert s.catalog["stock"] == 2
    s.apply(sale(T0 + 2, 7))
    assert s.catalog["stock"] == 0
    assert state_of(sale(T0, 3)).catalog["stock"] is None


def test_stock_is_by_event_time_whatever_order_the_topics_were_read_in() -> None:
    late_sale = state_of(product(T0 + 10, stock=10), sale(T0 + 5, 3))  # already in the figure
    assert late_sale.catalog["stock"] == 10
    stale = state_of(product(T0 + 10, stock=10), product(T0, stock=99), sale(T0 + 20, 1))
    assert (stale.catalog["stock"], stale.catalog["stock_ts"]) == (9, T0 + 10)


def test_sale_without_price_adds_no_revenue() -> None:
    s = state_of(product(T0, price=10.0), sale(T0, 2))
    assert s.totals["revenue"] == 0.0
    assert s.tumbling_1m(T0).revenue == 0.0


def test_snapshot_has_totals_catalog_and_windows() -> None:
    s = state_of(product(T0, name="Mug"), click(T0 + 5), sale(T0 + 6, 1, 4.0), review(T0, 5))
    snap = orjson.loads(orjson.dumps(s.snapshot(T0 + 10)))
    assert snap["totals"]["conversion"] == 1.0
    assert snap["totals"]["avg_rating"] == 5.0
    assert snap["catalog"]["name"] == "Mug"
    assert snap["last_ts"] == T0 + 6
    assert snap["tumbling_1m"] == {
        "start": T0,
        "end": T0 + 60,
        "views": 1,
        "carts": 0,
        "orders": 1,
        "units": 1,
        "revenue": 4.0,
        "reviews": 1,
        "conversion": 1.0,
    }
    assert (snap["hopping_1h"]["start"], snap["hopping_1h"]["end"]) == (T0 - 3540, T0 + 60)
    assert s.snapshot() == s.snapshot(s.last_ts)


def test_json_round_trip_is_exact_and_state_keeps_working() -> None:
    events: list[InputEvent] = [
        product(T0, name="N", price=1.25, stock=3),
        click(T0),
        sale(T0 + 61, 2, 0.1),
        review(T0 + 62, 3),
        click(T0 + 3600, "favorite"),
    ]
    s = state_of(*events[:3])
    restored = json_round_trip(s)
    assert restored.to_dict() == s.to_dict()
    for event in events[3:]:
        s.apply(event)
        restored.apply(event)
    assert orjson.dumps(restored.to_dict()) == orjson.dumps(s.to_dict())


_ACTIONS = st.sampled_from(["view", "add_to_cart", "remove_from_cart", "favorite"])
_TS = st.floats(min_value=T0, max_value=T0 + 3 * 3600, allow_nan=False)
_EVENTS: st.SearchStrategy[list[InputEvent]] = st.lists(
    st.one_of(
        st.builds(click, _TS, _ACTIONS),
        st.builds(sale, _TS, st.integers(1, 5), st.none() | st.sampled_from([0.5, 2.0, 3.25])),
        st.builds(review, _TS, st.none() | st.integers(1, 5)),
        st.builds(product, _TS, stock=st.none() | st.integers(0, 20)),
    ),
    max_size=60,
)


def recount(events: list[InputEvent]) -> dict[str, float]:
    """Totals the slow, obvious way."""
    clicks = [e.action for e in events if isinstance(e, ClickEvent)]
    sales = [e for e in events if isinstance(e, SaleEvent)]
    ratings = [e.rating for e in events if isinstance(e, ReviewEvent) and e.rating is not None]
    return {
        "views": clicks.count("view"),
        "carts": clicks.count("add_to_cart"),
        "removals": clicks.count("remove_from_cart"),
        "favorites": clicks.count("favorite"),
        "orders": len(sales),
        "units": sum(e.quantity for e in sales),
        "revenue": sum(e.quantity * e.price for e in sales if e.price is not None),
        "reviews": sum(isinstance(e, ReviewEvent) for e in events),
        "rating_sum": sum(ratings),
        "rating_count": len(ratings),
    }


@settings(max_examples=150, deadline=None)
@given(_EVENTS)
def test_totals_and_last_hour_equal_a_recount(events: list[InputEvent]) -> None:
    s = state_of(*events)
    expected = recount(events)
    assert {k: s.totals[k] for k in TOTALS if k != "revenue"} == {
        k: v for k, v in expected.items() if k != "revenue"
    }
    assert s.totals["revenue"] == pytest.approx(expected["revenue"])
    if events:
        newest = int(s.last_ts // 60)
        recent = [e for e in events if int(e.ts // 60) > newest - WINDOW_MINUTES]
        w, r = s.hopping_1h(s.last_ts), recount(recent)
        assert (w.views, w.carts, w.orders, w.units, w.reviews) == (
            r["views"],
            r["carts"],
            r["orders"],
            r["units"],
            r["reviews"],
        )
        assert len(s.buckets) <= WINDOW_MINUTES
    assert json_round_trip(s).to_dict() == s.to_dict()


def test_day_window_sums_the_24_hour_buckets_ending_with_now() -> None:
    hour0 = (int(T0 // 3600) + 1) * 3600.0  # the start of an hour
    s = state_of(click(hour0), sale(hour0 + 1800, 2, 5.0), click(hour0 + 23 * 3600 + 5))
    day = s.hopping_24h(hour0 + 23 * 3600 + 10)
    assert (day.start, day.end) == (hour0, hour0 + 24 * 3600)
    assert (day.views, day.orders, day.units, day.revenue, day.conversion) == (2, 1, 2, 10.0, 0.5)
    assert s.hopping_24h(hour0 + 24 * 3600).views == 1  # the first hour has hopped out
    s.apply(click(hour0 + 24 * 3600))
    assert sorted(s.hours) == [int(hour0 // 3600) + 23, int(hour0 // 3600) + 24]


def test_memory_is_bounded_to_a_day_of_hour_buckets() -> None:
    s = state_of(*(click(T0 + 1800 * i) for i in range(200)))
    assert len(s.hours) == WINDOW_HOURS
    assert s.hopping_24h(s.last_ts).views == 48


def test_state_written_before_hour_buckets_still_loads() -> None:
    s = state_of(click(T0), sale(T0 + 61, 2, 1.5), click(T0 + 3600 * 3))
    old = s.to_dict()
    del old["hours"], old["velocity"]
    restored = ProductState.from_dict(orjson.loads(orjson.dumps(old)))
    assert restored.hopping_24h(s.last_ts).views == 1  # only the last hour's minutes are known
    assert restored.hopping_1h(s.last_ts) == s.hopping_1h(s.last_ts)
    assert restored.velocity.to_state() == [0.0, 0.0, 0.0]
    restored.apply(click(T0 + 3600 * 4))
    assert set(restored.snapshot()) >= {"totals", "catalog", "tumbling_1m", "hopping_1h"}


def test_closed_hours_teach_the_anomaly_detector() -> None:
    hour0 = (int(T0 // 3600) + 1) * 3600.0
    steady = [sale(hour0 + 600 * i, 1, 2.0) for i in range(6 * 48)]  # 6 an hour for 2 days
    s = state_of(*steady)
    assert s.velocity.to_state()[0] == 47  # every hour but the one still open
    end = s.last_ts
    assert s.anomaly_score(end) is not None and s.anomaly_score(end) < 0.5
    for i in range(60):
        s.apply(sale(end + 1 + i, 1, 2.0))
    assert s.anomaly_score(s.last_ts) > 0.99
    assert json_round_trip(s).anomaly_score(s.last_ts) == s.anomaly_score(s.last_ts)


def test_idle_hours_are_learned_as_zero_sales() -> None:
    s = state_of(sale(T0, 5), click(T0 + 10 * 3600))
    hours, _, _ = s.velocity.to_state()
    assert hours == 10
    assert state_of(sale(T0, 5)).anomaly_score(T0) is None  # no history yet


_DAYS_TS = st.floats(min_value=T0, max_value=T0 + 3 * 86_400, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(sale, _DAYS_TS, st.integers(1, 5)) | st.builds(click, _DAYS_TS)))
def test_last_day_equals_a_recount(events: list[InputEvent]) -> None:
    s = state_of(*events)
    if events:
        newest = int(s.last_ts // 3600)
        recent = recount([e for e in events if int(e.ts // 3600) > newest - WINDOW_HOURS])
        day = s.hopping_24h(s.last_ts)
        assert (day.views, day.carts, day.orders, day.units) == tuple(
            recent[k] for k in ("views", "carts", "orders", "units")
        )
    assert json_round_trip(s).to_dict() == s.to_dict()
