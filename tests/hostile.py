"""Broken and hostile payloads a producer might send, each with the reason Pulse must give.

Shared by the unit tests of the codec and the integration tests that push them
through a live worker next to real traffic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

TS = 1_700_000_000

_CLICK = {"event_id": "h", "ts": TS, "user_id": "u1", "product_id": "p1", "action": "view"}
_REVIEW = {"event_id": "h", "ts": TS, "user_id": "u1", "product_id": "p1", "text": "ok"}


def _with(base: dict[str, object], **changes: object) -> bytes:
    return json.dumps({**base, **changes}, ensure_ascii=False).encode()


def corpus(tag: str = "h") -> Iterator[tuple[str, bytes, str]]:
    """``(topic, payload, reason)`` for each kind of bad input; ids made unique by ``tag``."""
    click = {**_CLICK, "event_id": f"{tag}-click"}
    review = {**_REVIEW, "event_id": f"{tag}-review"}
    yield "clicks", b"", "empty"
    yield "clicks", b"\xff\xfe\x00garbage", "not_utf8"
    yield "clicks", b'{"event_id": "x", "ts": 1.7e9, "user_id": "u\xed\xa0\x80"}', "not_utf8"
    yield "clicks", b"{not json", "not_json"
    yield "clicks", b"[" * 30_000 + b"]" * 30_000, "not_json"  # deeper than orjson allows
    yield "clicks", b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "not_json"
    yield "clicks", b'["a list"]', "not_object"
    yield "clicks", b"42", "not_object"
    yield "clicks", b"null", "not_object"
    yield "clicks", _with(click, ts=float("nan")), "not_json"  # NaN is not JSON
    yield "clicks", _with(click, ts="Infinity"), "invalid_fields"
    yield "clicks", _with(click, ts=10**400), "not_json"  # beyond any float
    yield "clicks", _with(click, ts=-1), "invalid_fields"
    yield "clicks", _with(click, ts=True), "invalid_fields"
    yield "clicks", _with(click, action="teleport"), "invalid_fields"
    yield "clicks", _with(click, user_id={"$ne": None}), "invalid_fields"
    yield "clicks", _with(click, product_id=""), "invalid_fields"
    yield "clicks", _with(click, product_id="p" * 10_000), "invalid_fields"
    yield "clicks", _with(click, schema_version=99), "unsupported_schema_version"
    yield "clicks", _with(click, schema_version="1"), "unsupported_schema_version"
    yield "clicks", _with(click, extra_field="__import__('os')"), "invalid_fields"
    yield "sales", _with({**click, "event_id": f"{tag}-sale"}, quantity=10**30), "invalid_fields"
    yield "sales", _with({**click, "event_id": f"{tag}-sale2"}, price=-5), "invalid_fields"
    yield "reviews", _with(review, rating=6), "invalid_fields"
    yield "reviews", _with(review, text=None), "invalid_fields"
    yield "reviews", _with(review, text="x" * 70_000), "too_large"
    # a 1 MB review: rejected as too large, kept (cut) in the dead-letter topic
    yield "reviews", _with(review, text="好" * 330_000), "too_large"
    yield "products", _with(click, stock=-3), "invalid_fields"
    yield "products", _with({"event_id": f"{tag}-prod", "ts": TS}), "invalid_fields"
