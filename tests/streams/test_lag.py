"""Consumer lag: per-topic figures from partition offsets, gauges set only from what was read,
rebalances counted per assignment (no broker: a stand-in probe answers)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from streams.lag import LagMonitor, PartitionLag
from streams.metrics import Metrics
from streams.settings import Settings

NOW = 2_000.0


def fake_pulse(owned: list[tuple[str, int]], replica_offset: int = 0) -> Any:
    settings = Settings(topic_prefix="shop.")
    actives = {TopicPartition(t, p) for t, p in owned}  # like faust.TP
    app = SimpleNamespace(
        assignor=SimpleNamespace(assigned_actives=lambda: actives),
        rebalancing=False,
        conf=SimpleNamespace(id="pulse"),
    )
    replica = SimpleNamespace(offset=replica_offset, bootstrap="127.0.0.1:1")
    return SimpleNamespace(
        settings=settings, app=app, replica=replica, metrics=Metrics(CollectorRegistry())
    )


class Probe:
    """Answers like :class:`streams.lag.OffsetProbe` from fixed offsets."""

    def __init__(self, committed: dict[TopicPartition, int], ends: dict[TopicPartition, Any]):
        self._committed, self._ends = committed, ends
        self.asked: dict[TopicPartition, int] = {}

    async def committed(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self._committed[tp] for tp in partitions}

    async def read(self, positions: dict[TopicPartition, int]) -> dict[TopicPartition, Any]:
        self.asked = dict(positions)
        return {tp: self._ends[tp] for tp in positions if tp in self._ends}


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def tp(topic: str, partition: int = 0) -> TopicPartition:
    return TopicPartition(topic, partition)


def test_lag_is_summed_per_topic_and_aged_by_the_oldest_waiting_message() -> None:
    lags = [
        PartitionLag("clicks", position=10, end=30, oldest_ts=NOW - 4.0),
        PartitionLag("clicks", position=5, end=6, oldest_ts=NOW - 9.5),
        PartitionLag("clicks", position=8, end=8, oldest_ts=None),
    ]
    assert sum(lag.messages for lag in lags) == 21
    assert max(lag.seconds(NOW) for lag in lags) == 9.5
    # A consumer ahead of a stale end offset is not behind.
    assert PartitionLag("sales", position=9, end=7, oldest_ts=NOW - 1).messages == 0


async def test_measure_sets_each_topic_from_the_partitions_this_worker_owns() -> None:
    pulse = fake_pulse([("shop.clicks", 0), ("shop.clicks", 2), ("shop.sales", 2)], 40)
    probe = Probe(
        committed={tp("shop.clicks"): 100, tp("shop.clicks", 2): 7, tp("shop.sales", 2): 3},
        ends={
            tp("shop.clicks"): (130, 1_000_000.0),
            tp("shop.clicks", 2): (7, None),
            tp("shop.sales", 2): (3, None),
            tp("shop.feedback"): (45, 1_000_001.0),
        },
    )
    monitor = LagMonitor(pulse)
    lags = await monitor.measure(probe)  # type: ignore[arg-type]

    assert probe.asked[tp("shop.feedback")] == 40  # the replica's next offset
    assert {lag.topic for lag in lags} == {"clicks", "sales", "feedback"}
    m = pulse.metrics
    assert value(m, "pulse_stream_consumer_lag_messages", topic="clicks") == 30
    assert value(m, "pulse_stream_consumer_lag_seconds", topic="clicks") > 0
    assert value(m, "pulse_stream_consumer_lag_messages", topic="sales") == 0
    assert value(m, "pulse_stream_consumer_lag_messages", topic="reviews") == 0  # none owned
    assert value(m, "pulse_feedback_lag_messages") == 5
    assert value(m, "pulse_stream_lag_probes_total", outcome="ok") == 1


async def test_a_topic_with_an_unanswered_partition_keeps_its_last_figure() -> None:
    pulse = fake_pulse([("shop.clicks", 0), ("shop.clicks", 1)])
    ends = {
        tp("shop.clicks"): (50, NOW),
        tp("shop.clicks", 1): (20, NOW),
        tp("shop.feedback"): (0, None),
    }
    probe = Probe({tp("shop.clicks"): 0, tp("shop.clicks", 1): 0}, ends)
    monitor = LagMonitor(pulse)
    await monitor.measure(probe)  # type: ignore[arg-type]
    del ends[tp("shop.clicks", 1)]  # this partition's broker does not answer in time
    await monitor.measure(probe)  # type: ignore[arg-type]

    m = pulse.metrics
    assert value(m, "pulse_stream_consumer_lag_messages", topic="clicks") == 70  # not 50
    assert value(m, "pulse_stream_lag_probes_total", outcome="partial") == 1


async def test_each_assignment_is_a_rebalance_and_sets_the_owned_input_partitions() -> None:
    pulse = fake_pulse([])
    monitor = LagMonitor(pulse)
    first = {tp(f"shop.{t}", p) for t in ("clicks", "sales") for p in range(4)}
    await monitor.on_assigned(None, first | {tp("shop.feedback")})
    assert value(pulse.metrics, "pulse_stream_partitions_assigned") == 8
    await monitor.on_assigned(None, {tp("shop.clicks", 1)})

    assert value(pulse.metrics, "pulse_worker_rebalances_total") == 2
    assert value(pulse.metrics, "pulse_stream_partitions_assigned") == 1
