"""Consumer lag on the real embedded broker: exact end offsets where ListOffsets answers short,
and a live worker whose lag gauges rise with a backlog and fall to zero once it is processed."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata
from prometheus_client.parser import text_string_to_metric_families

from streams.lag import OffsetProbe
from streams.producing import publish, start_producer
from streams.settings import Settings

pytestmark = pytest.mark.integration


async def _probe_case(bootstrap: str, topic: str) -> tuple[dict, dict, dict, float, float]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 2, 1)])
    await admin.close()
    producer = await start_producer(bootstrap)
    before = time.time()
    for i in range(1000):  # batched by the producer: ListOffsets will see the last batch's base
        await producer.send(topic, b"%d" % i, partition=i % 2)
    await producer.flush()
    await producer.stop()
    after = time.time()
    tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    group = f"{topic}-group"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        consumer.assign(tps)
        listed = await consumer.end_offsets(tps)
        await consumer.commit({tps[0]: OffsetAndMetadata(123, "")})
    finally:
        await consumer.stop()
    probe = OffsetProbe(bootstrap, group)
    await probe.start()
    try:
        committed = await probe.committed(tps)
        read = await probe.read(committed)
    finally:
        await probe.stop()
    return listed, committed, read, before, after


def test_probe_reads_committed_and_exact_end_offsets(broker, prefix: str) -> None:
    topic = f"{prefix}lag"
    listed, committed, read, before, after = asyncio.run(_probe_case(broker.bootstrap, topic))
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    print(f"\nListOffsets answered {listed}; the fetch: {read}")
    assert committed == {tp0: 123, tp1: 0}  # partition 1: nothing committed, the log start
    assert {tp: end for tp, (end, _) in read.items()} == {tp0: 500, tp1: 500}
    for _, ts in read.values():
        assert ts is not None and before - 1 <= ts <= after + 1


def gauges(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def lag_total(values: dict[tuple[str, tuple], float], name: str) -> float:
    return sum(v for (n, _), v in values.items() if n == name)


def test_a_workers_lag_rises_with_a_backlog_and_returns_to_zero(
    spawn_worker, broker, prefix: str
) -> None:
    settings = Settings(topic_prefix=prefix)
    clicks = [
        (
            "clicks",
            orjson.dumps(
                {
                    "event_id": f"c{i}",
                    "ts": 1_764_300_000 + i,
                    "user_id": f"u{i % 50}",
                    "product_id": f"p{i % 40}",
                    "action": "view",
                }
            ),
        )
        for i in range(30_000)
    ]
    worker = spawn_worker()  # joins first: the backlog then lands on a measured group
    asyncio.run(publish(settings, broker.bootstrap, clicks))

    seen_lag, seen_seconds, deadline = 0.0, 0.0, time.monotonic() + 120
    values: dict[tuple[str, tuple], float] = {}
    while time.monotonic() < deadline:
        values = gauges(worker.metrics_text())
        seen_lag = max(seen_lag, lag_total(values, "pulse_stream_consumer_lag_messages"))
        seen_seconds = max(seen_seconds, lag_total(values, "pulse_stream_consumer_lag_seconds"))
        processed = lag_total(values, "pulse_stream_events_total")
        caught_up = not any(
            lag_total(values, name)
            for name in ("pulse_stream_consumer_lag_messages", "pulse_feedback_lag_messages")
        )
        if processed >= 30_000 and caught_up and seen_lag:
            break
        time.sleep(0.5)
    print(f"\nlargest lag seen: {seen_lag:.0f} messages, {seen_seconds:.1f} s")
    assert seen_lag > 0, "the backlog never showed as lag"
    assert seen_seconds > 0
    assert lag_total(values, "pulse_stream_consumer_lag_messages") == 0, values
    assert values[("pulse_stream_consumer_lag_seconds", (("topic", "clicks"),))] == 0
    assert values[("pulse_feedback_lag_messages", ())] == 0
    assert values[("pulse_stream_partitions_assigned", ())] == 4 * settings.partitions
    assert values[("pulse_worker_rebalances_total", ())] >= 1
    assert values[("pulse_stream_lag_probes_total", (("outcome", "ok"),))] >= 1
