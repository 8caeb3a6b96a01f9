"""The pipeline on the real embedded broker: valid events update state, every malformed
payload is dead-lettered with its reason and original bytes, the worker never stops."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.producing import publish
from streams.settings import Settings
from tests.integration.topics import consume

pytestmark = pytest.mark.integration

TS = 1_764_300_000.0


def click(i: int, pid: str = "p1", action: str = "view") -> bytes:
    return orjson.dumps(
        {
            "event_id": f"c{i}",
            "ts": TS + i,
            "user_id": f"u{i % 3}",
            "product_id": pid,
            "action": action,
        }
    )


MALFORMED = [
    b"not json at all",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b'{"event_id": "x1", "ts": NaN, "user_id": "u", "product_id": "p1", "action": "view"}',
    b'{"event_id": "x2", "ts": 1e400, "user_id": "u", "product_id": "p1", "action": "view"}',
    b'{"event_id": "x3", "ts": 1764300000, "user_id": "u", "product_id": "p1", "action": "jump"}',
    b'{"event_id": "x4", "schema_version": 9, "ts": 1764300000, "user_id": "u", "product_id": "p1", "action": "view"}',
    b'{"event_id": "x5", "ts": 1764300000, "user_id": ["u"], "product_id": "p1", "action": "view"}',
    b'{"event_id": "x6", "ts": 1764300000}',
    b"[" * 100_000,
    b'{"a": "' + b"x" * 200_000 + b'"}',
    b"",
]


def test_malformed_payloads_are_dead_lettered_and_valid_ones_processed(
    spawn_worker, broker, prefix: str
) -> None:
    worker = spawn_worker()
    items = []
    for i, bad in enumerate(MALFORMED):
        items.append(("clicks", click(2 * i)))
        items.append(("clicks", bad))
        items.append(("clicks", click(2 * i + 1, action="add_to_cart")))
    items.append(
        (
            "sales",
            orjson.dumps(
                {
                    "event_id": "s1",
                    "ts": TS,
                    "user_id": "u9",
                    "product_id": "p1",
                    "quantity": 3,
                    "price": 2.5,
                }
            ),
        )
    )
    settings = Settings(topic_prefix=prefix)
    asyncio.run(publish(settings, broker.bootstrap, items))

    letters = asyncio.run(consume(broker.bootstrap, f"{prefix}deadletter", len(MALFORMED)))
    assert len(letters) == len(MALFORMED)
    assert sorted(r.value for r in letters) == sorted(MALFORMED), "original bytes kept"
    for record in letters:
        headers = dict(record.headers)
        assert headers["pulse.topic"] == b"clicks"
        assert headers["pulse.reason"] and headers["pulse.detail"]
        assert int(headers["pulse.offset"]) >= 0
    reasons = {dict(r.headers)["pulse.reason"].decode() for r in letters}
    assert {
        "not_json",
        "not_utf8",
        "not_object",
        "invalid_fields",
        "too_large",
        "empty",
        "unsupported_schema_version",
    } <= reasons

    deadline = time.monotonic() + 30
    while worker.get("/products/p1").get("totals", {}).get("orders") != 1:
        assert time.monotonic() < deadline, worker.get("/products/p1")
        time.sleep(0.3)
    totals = worker.get("/products/p1")["totals"]
    assert (totals["views"], totals["carts"], totals["orders"], totals["units"]) == (
        len(MALFORMED),
        len(MALFORMED),
        1,
        3,
    )
    assert totals["revenue"] == pytest.approx(7.5)
    # a batch is counted after its writes are acknowledged, a moment after its state shows
    while worker.event_counts().get(("clicks", "dead_letter"), 0) < len(MALFORMED):
        assert time.monotonic() < deadline, worker.event_counts()
        time.sleep(0.3)
    assert worker.event_counts()[("clicks", "dead_letter")] == len(MALFORMED)
    assert worker.get("/health")["ready"] is True

    processed = 2 * len(MALFORMED) + 1
    # the recommender (in the worker's models process) follows the log
    while worker.get("/reco/stats").get("offset", -1) < processed:
        assert time.monotonic() < deadline, worker.get("/reco/stats")
        time.sleep(0.3)
    recs = worker.get("/recommendations/u9?k=5")
    assert "p1" not in [i["product_id"] for i in recs["items"]], "already bought"
    assert worker.get("/recommendations/newcomer?k=5")["items"][0]["product_id"] == "p1"
    assert worker.get("/recommendations/u0?k=5")["items"] == [], "p1, the only item, seen"
    assert worker.get("/products/nope").get("error")
    assert "error" in worker.get("/recommendations/u1?k=0")


def test_two_workers_split_partitions_and_route_product_queries(
    spawn_worker, broker, prefix: str
) -> None:
    first, second = spawn_worker(), spawn_worker()
    products = [f"sku-{i}" for i in range(40)]
    items = [("clicks", click(i, pid=pid)) for i, pid in enumerate(products)]
    asyncio.run(publish(Settings(topic_prefix=prefix), broker.bootstrap, items))
    deadline = time.monotonic() + 60
    while first.seen_total() + second.seen_total() < len(products):
        assert time.monotonic() < deadline, "events not processed"
        time.sleep(0.3)
    owned = [set(w.get("/health")["assigned_partitions"]) for w in (first, second)]
    assert owned[0] and owned[1] and not owned[0] & owned[1], owned
    for worker in (first, second):
        for pid in products:
            assert worker.get(f"/products/{pid}")["totals"]["views"] == 1, (worker.url, pid)


def test_a_feedback_topic_found_with_more_partitions_still_feeds_the_replica(
    spawn_worker, broker, prefix: str
) -> None:
    """A feedback topic someone made before Pulse (say, auto-created with the cluster's
    default partitions) is used as found; every record goes to partition 0, the only one
    the replicas follow, whatever its key."""

    async def make_feedback_topic() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(f"{prefix}feedback", 3, 1)])
        finally:
            await admin.close()

    asyncio.run(make_feedback_topic())
    worker = spawn_worker()
    n = 40
    items = [("clicks", click(i, pid=f"p{i % 10}")) for i in range(n)]  # ten keys
    asyncio.run(publish(Settings(topic_prefix=prefix), broker.bootstrap, items))
    deadline = time.monotonic() + 60
    while worker.get("/health")["feedback_offset"] < n:
        assert time.monotonic() < deadline, worker.get("/health")
        time.sleep(0.3)
    log = asyncio.run(consume(broker.bootstrap, f"{prefix}feedback", n, timeout=10))
    assert len(log) == n and {r.partition for r in log} == {0}
