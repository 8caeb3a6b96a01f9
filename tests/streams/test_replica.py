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


def replica(**settings: object) -> FeedbackReplica:
    return FeedbackReplica(Settings(**settings), "127.0.0.1:1", Metrics(CollectorRegistry()))


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


def test_users_learn_clicks_and_sales_once() -> None:
    r = replica()
    for eid in ("v1", "v1", "v2"):
        r.apply(record(eid))
    r.apply(record("s1", topic="sales", quantity=2, price=3.0, action=None))
    r.apply(record("rm", action="remove_from_cart"))
    facts = r.users.facts("u1", "p1", 1.7e9)
    assert facts["user_orders_total"] == 1 and facts["user_value_total"] == 6.0
    assert facts["user_product_views"] == 0  # bought after the views (same ts counts as after)


def test_user_facts_count_the_event_being_evaluated_exactly_once() -> None:
    from streams.schemas import ClickEvent

    r = replica(reco_enabled=False)  # popularity's head: seen items stay in it
    r.apply(record("v1", ts=1.7e9))
    r.apply(record("v0", product_id="p0", ts=1.7e9))
    event = ClickEvent(event_id="v2", ts=1.7e9 + 5, user_id="u1", product_id="p1", action="view")
    facts = r.user_facts(event, recommendations=3)
    assert facts["user_product_views"] == 2  # v1 and the pending v2
    assert facts["user_top_recommendations"] == ["p0", "p1"]
    r.apply(record("v2", ts=1.7e9 + 5))  # the event reaches the replica through the log
    assert r.user_facts(event, recommendations=0) == {
        k: v for k, v in facts.items() if k != "user_top_recommendations"
    }


def test_a_malformed_user_record_teaches_nothing() -> None:
    r = replica()
    assert not r.apply(record("bad", user_id=7))
    assert r.popularity.score("p1") == 0.0 and len(r.users) == 0


def test_top_items_reuse_the_global_head_for_a_second() -> None:
    r, now = replica(reco_enabled=False), [100.0]
    r.clock = lambda: now[0]
    r.apply(record("v1", product_id="a"))
    assert r.top_items("u1", 3) == ["a"]
    r.apply(record("v2", product_id="b"))
    r.apply(record("v3", product_id="b"))
    assert r.top_items("u1", 3) == ["a"]  # the head is still fresh
    now[0] += 1.5
    assert r.top_items("u1", 3) == ["b", "a"]
    r.apply(record("s", topic="sales", product_id="b", user_id="buyer", action=None))
    assert r.top_items("buyer", 3) == ["a"]  # never what they bought


def test_top_items_fall_back_to_ranking_when_the_head_is_too_short() -> None:
    from streams.replica import HEAD_ITEMS

    r = replica(reco_enabled=False)
    for i in range(HEAD_ITEMS + 3):
        r.apply(
            record(f"s{i}", topic="sales", product_id=f"p{i:03d}", user_id="whale", action=None)
        )
    top = r.top_items("whale", 2)
    assert top == [] and r.top_items("other", 2) == ["p000", "p001"]
    r.apply(record("v", product_id="new", user_id="x"))
    r.clock = lambda: 1e12
    assert r.top_items("whale", 2) == ["new"]
