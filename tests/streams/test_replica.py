"""The feedback replica: repeats and unreadable records never reach the models."""

from __future__ import annotations

import orjson
from prometheus_client import CollectorRegistry

from streams.metrics import Metrics
from streams.replica import FeedbackReplica
from streams.settings import Settings


def record(eid: str, topic: str = "clicks", **event: object) -> bytes:
    base = {"event_id": eid, "ts": 1.7e9, "user_id": "u1", "product_id": "p1", "action": "view"}
    return orjson.dumps({"topic": topic, "event": {**base, **event}})


def replica() -> FeedbackReplica:
    return FeedbackReplica(Settings(), "127.0.0.1:1", Metrics(CollectorRegistry()))


def test_repeats_are_applied_once() -> None:
    r = replica()
    assert r.apply(record("a")) and not r.apply(record("a"))
    assert r.popularity.score("p1") == 1.0


def test_unreadable_records_are_counted_not_raised() -> None:
    r = replica()
    for bad in (
        b"nope",
        b"[]",
        orjson.dumps({"topic": "clicks"}),
        orjson.dumps({"topic": "clicks", "event": []}),
        record("b", user_id=None, ts="x"),
    ):
        assert r.apply(bad) is False
    assert r.applied == 0


def test_purchases_are_excluded_from_that_users_recommendations() -> None:
    r = replica()
    r.apply(record("v", product_id="p2"))
    r.apply(record("s", topic="sales", quantity=1, user_id="buyer"))
    assert [i for i, _ in r.recommend("buyer", 5)] == ["p2"]
    assert [i for i, _ in r.recommend("other", 5)] == ["p1", "p2"]
