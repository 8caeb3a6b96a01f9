"""Does the embedded broker slow down as it fills? Produce and fetch costs against stored records.

    .venv/bin/python bench/broker_growth.py [--steps 8] [--step 250000] [--partitions 4]

Tansu 0.6.0 (the embedded broker) keeps every record in memory (``memory://`` storage: no
retention, no segments on disk). The soak (``bench/soak.py``) saw its CPU rise until it
saturated a core after 25 minutes while the worker idled. This measures the broker alone:
one topic, records of ~300 bytes (the size of a Taobao click event) spread over
``--partitions``, in batches as large as ``--in-flight`` allows (5,000 records in flight:
large batches; 1: a batch per record, as a steady trickle of events makes them); after each ``--step`` records produced (timed: records/s), a consumer
with no group reads the newest 20,000 records (timed), and the broker's resident memory and
CPU seconds (``/proc``) are printed. A flat produce and fetch rate means the cost does not
depend on what is stored; falling rates mean it does, and a steady stream eventually
outgrows it whatever its consumer does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.broker import EmbeddedBroker
from streams.producing import start_producer

TOPIC, TAIL = "growth", 20_000
VALUE = (b'{"event_id":"e%09d","ts":1511658000.0,"user_id":"u1","product_id":"p%06d",'
         b'"action":"view","category_id":"c1"}').ljust(300, b" ")  # fmt: skip


def proc_stats(pid: int) -> tuple[float, float]:
    """(resident MB, CPU seconds) of ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    with open(f"/proc/{pid}/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return rss, cpu


async def produce(bootstrap: str, start: int, n: int, partitions: int, in_flight: int) -> float:
    producer = await start_producer(bootstrap)
    started = time.perf_counter()
    try:
        pending = []
        for i in range(start, start + n):
            value = VALUE % (i, i % 100_000)
            fut = await producer.send(TOPIC, value, partition=i % partitions)
            pending.append(fut)
            if len(pending) >= in_flight:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return n / (time.perf_counter() - started)


async def fetch_tail(bootstrap: str, end: int, partitions: int) -> float:
    """Records/s reading the newest ``TAIL`` records, spread over the partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(TOPIC, p) for p in range(partitions)]
        consumer.assign(tps)
        per = end // partitions
        for tp in tps:
            consumer.seek(tp, max(0, per - TAIL // partitions))
        started, seen = time.perf_counter(), 0
        while seen < min(TAIL, end):
            batches = await consumer.getmany(timeout_ms=1_000, max_records=5_000)
            seen += sum(len(records) for records in batches.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def run(bootstrap: str, pid: int, args: argparse.Namespace) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(TOPIC, args.partitions, 1)])
    await admin.close()
    print("| records stored | produce records/s | fetch newest 20k records/s | broker RSS MB | "
          "broker CPU s per 1,000 produced |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|")
    stored = 0
    for _ in range(args.steps):
        _, cpu_before = proc_stats(pid)
        rate = await produce(bootstrap, stored, args.step, args.partitions, args.in_flight)
        _, cpu_after = proc_stats(pid)
        stored += args.step
        fetch = await fetch_tail(bootstrap, stored, args.partitions)
        rss, _ = proc_stats(pid)
        per_k = 1000 * (cpu_after - cpu_before) / args.step
        print(f"| {stored:,} | {rate:,.0f} | {fetch:,.0f} | {rss:,.0f} | {per_k:.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--step", type=int, default=250_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--in-flight",
        type=int,
        default=5_000,
        help="records sent before waiting for their acks (1: one record per batch, as a "
        "steady trickle makes them)",
    )
    args = parser.parse_args()
    with EmbeddedBroker() as broker:
        assert broker.process is not None
        asyncio.run(run(broker.bootstrap, broker.process.pid, args))


if __name__ == "__main__":
    main()
