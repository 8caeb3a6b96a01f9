"""A product's complaint windows: counts by aspect over 1 h and 24 h of event time."""

from __future__ import annotations

import orjson
import pytest

from streams.aspect_windows import MAX_ASPECTS_PER_BUCKET, AspectWindows
from streams.state import ProductState

#: The start of an hour.
T0 = 1_699_999_200.0


def test_the_top_aspect_is_the_most_blamed_in_the_last_hour() -> None:
    w = AspectWindows()
    w.add(T0 + 10, ["screen"])
    for i in range(3):
        w.add(T0 + 600 + i, ["battery", "charger"])
    w.add(T0 + 900, ["charger"])
    assert w.top(T0 + 1_000) == ("charger", 4, 4 / 24)
    assert w.last_hour(T0 + 1_000) == {"charger": 4, "battery": 3, "screen": 1}
    assert w.last_hour(T0 + 1_000, n=1) == {"charger": 4}


def test_ties_go_to_the_first_name_and_an_empty_hour_has_no_top() -> None:
    w = AspectWindows()
    w.add(T0, ["zipper", "battery"])
    assert w.top(T0 + 1) == ("battery", 1, 1 / 24)
    assert AspectWindows().top(T0) is None
    w.add(T0 + 5, [])
    assert w.top(T0 + 5) == ("battery", 1, 1 / 24)


def test_the_hour_slides_by_minute_and_the_day_keeps_the_hourly_mean() -> None:
    w = AspectWindows()
    for h in range(24):  # one complaint an hour for a day, at ten to the hour
        w.add(T0 + h * 3_600 + 3_000, ["battery"])
    for i in range(6):  # then a spike
        w.add(T0 + 24 * 3_600 + 60 + i, ["battery"])
    now = T0 + 24 * 3_600 + 120
    # the last hour: the spike and the complaint at 23:50; the day: hours 1..24
    assert w.top(now) == ("battery", 7, 29 / 24)
    # at 00:59 the 23:50 complaint has left the hour; the spike has not
    assert w.top(T0 + 24 * 3_600 + 3_540) == ("battery", 6, 29 / 24)
    assert w.top(T0 + 25 * 3_600 + 60) is None, "an hour after the spike's minute"


def test_a_complaint_older_than_the_windows_is_left_out() -> None:
    w = AspectWindows()
    w.add(T0 + 30 * 3_600, ["battery"])
    w.add(T0 + 30 * 3_600 - 2 * 3_600, ["lens"])  # 2 h late: the day counts it, the hour not
    w.add(T0, ["strap"])  # 30 h late: neither
    assert w.last_hour(T0 + 30 * 3_600) == {"battery": 1}
    assert sum(c.get("lens", 0) for c in w.hours.values()) == 1
    assert all("strap" not in c for c in [*w.minutes.values(), *w.hours.values()])
    assert min(w.minutes) > (T0 + 29 * 3_600) // 60, "buckets behind the newest are dropped"


def test_a_bucket_counts_a_bounded_number_of_aspects() -> None:
    w = AspectWindows()
    w.add(T0, [f"a{i:04d}" for i in range(MAX_ASPECTS_PER_BUCKET + 50)])
    w.add(T0 + 1, ["a0000", "new"])
    (minute,) = w.minutes.values()
    assert len(minute) == MAX_ASPECTS_PER_BUCKET and minute["a0000"] == 2 and "new" not in minute


@pytest.mark.parametrize("how", ["to_dict", "to_json"])
def test_complaints_travel_with_the_product_state(how: str) -> None:
    state = ProductState()
    state.apply_complaints(T0 + 5, ["battery", "screen"])
    state.apply_complaints(T0 + 3_700, ["battery"])
    data = state.to_dict() if how == "to_dict" else orjson.loads(state.to_json())
    restored = ProductState.from_dict(orjson.loads(orjson.dumps(data)))
    assert restored.complaints.top(T0 + 3_700) == state.complaints.top(T0 + 3_700)
    assert restored.to_dict() == state.to_dict()
    assert restored.snapshot(T0 + 3_700)["complaints_1h"] == {"battery": 1}


def test_a_state_without_complaints_stores_none_and_older_states_load() -> None:
    state = ProductState()
    assert "complaints" not in state.to_dict()
    assert b"complaints" not in state.to_json()
    assert ProductState.from_dict(state.to_dict()).complaints.top(T0) is None
