"""Decoding and validation: every bad payload gets a bounded reason and a readable detail."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.codec import REASONS, Rejection, decode, encode
from streams.schemas import ClickEvent, ProductEvent, ReviewEvent, SaleEvent

CLICK = {
    "event_id": "e1",
    "ts": 1_700_000_000,
    "user_id": "u1",
    "product_id": "p1",
    "action": "add_to_cart",
}


def payload(**changes: object) -> bytes:
    return orjson.dumps({**CLICK, **changes})


def test_valid_click_round_trips() -> None:
    event = decode("clicks", payload())
    assert isinstance(event, ClickEvent)
    assert decode("clicks", encode(event)) == event


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"\xff\xfe{}", "not_utf8"),
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_object"),
        (b"NaN", "not_json"),
        (b'{"ts": NaN}', "not_json"),
        (b"[" * 5000 + b"]" * 5000, "not_json"),
        (payload(schema_version=2), "unsupported_schema_version"),
        (payload(schema_version=True), "unsupported_schema_version"),
        (payload(action="teleport"), "invalid_fields"),
        (payload(ts="yesterday"), "invalid_fields"),
        (payload(ts=1e300), "invalid_fields"),
        (payload(ts=True), "invalid_fields"),
        (payload(user_id=None), "invalid_fields"),
        (payload(user_id="x" * 500), "invalid_fields"),
        (payload(user_id={"nested": 1}), "invalid_fields"),
        (payload(colour="red"), "invalid_fields"),
        (b" " * 70_000, "too_large"),
    ],
)
def test_bad_payloads_are_rejected_with_reason(raw: bytes, reason: str) -> None:
    result = decode("clicks", raw)
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert result.reason in REASONS and result.detail


def test_every_bad_field_is_reported() -> None:
    result = decode("sales", orjson.dumps({"event_id": "", "ts": 0, "quantity": -1, "price": -2}))
    assert isinstance(result, Rejection)
    for name in ("event_id", "ts", "user_id", "product_id", "quantity", "price"):
        assert f"{name}:" in result.detail


def test_integer_ids_become_strings() -> None:
    event = decode("clicks", payload(user_id=42, product_id=7))
    assert isinstance(event, ClickEvent)
    assert (event.user_id, event.product_id) == ("42", "7")


def test_each_input_topic_has_its_model() -> None:
    base = {"event_id": "e", "ts": 1.7e9, "product_id": "p"}
    assert isinstance(decode("products", orjson.dumps({**base, "stock": 3})), ProductEvent)
    sale = decode("sales", orjson.dumps({**base, "user_id": "u", "quantity": 2, "price": 9.5}))
    assert isinstance(sale, SaleEvent)
    review = decode(
        "reviews", orjson.dumps({**base, "user_id": "u", "text": "好评 👍", "rating": 5})
    )
    assert isinstance(review, ReviewEvent)
    assert decode("nope", b"{}") == Rejection("unknown_topic", "no schema for topic 'nope'")


@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    result = decode("reviews", raw)
    assert isinstance(result, Rejection | ReviewEvent)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_arbitrary_json_never_raises(value: object) -> None:
    try:
        raw = orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return
    assert isinstance(decode("sales", raw), Rejection | SaleEvent)
