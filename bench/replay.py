"""One worker on a dataset backlog vs a bare aiokafka consumer of the same topics, same run.

    .venv/bin/python bench/replay.py [--data PATH] [--limit N]

(default: the Taobao sample under ../shared/data)

Steps: start the embedded broker; publish the whole file (timed); read it back with a
bare aiokafka consumer that only decodes JSON (the floor); start one `pulse worker` and
time it from ready until every event is accounted for on /metrics. Prints events/s
and the ratio to the bare consumer, plus the worker's ready time. When the dataset has
reviews (``--data ../shared/data/en_amazon_multidomain_sentiment/...csv.gz``), it also
times the sentiment engine alone on the same texts in batches of ``PULSE_BATCH_SIZE``:
the model's share of the worker's time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from streams.broker import EmbeddedBroker
from streams.procs import WorkerProcess
from streams.producing import publish
from streams.replay import read_dataset
from streams.settings import Settings
from streams.topics import INPUTS, ensure_topics

DEFAULT = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / ("ecom_taobao_userbehavior_sample/UserBehavior_sample.csv")
)


async def bare_consume(bootstrap: str, topics: list[str], expected: int) -> float:
    """Seconds a bare consumer takes to read and JSON-decode ``expected`` messages."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    started, seen = time.perf_counter(), 0
    try:
        while seen < expected:
            for records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                for record in records:
                    orjson.loads(record.value)
                seen += len(records)
    finally:
        await consumer.stop()
    return time.perf_counter() - started


def engine_seconds(texts: list[str], batch: int) -> float:
    """Seconds the default sentiment engine takes to score ``texts``, ``batch`` at a time."""
    if not texts:
        return 0.0
    from models.sentiment import SentimentEngine

    engine = SentimentEngine.load(providers=("CPU",))
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        engine.predict(texts[i : i + batch])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT.resolve())
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"dataset not found: {args.data}")
    settings = Settings(topic_prefix="bench.", app_id="bench")
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(ensure_topics(settings, broker.bootstrap))
        started = time.perf_counter()
        total = asyncio.run(
            publish(settings, broker.bootstrap, read_dataset(args.data, limit=args.limit))
        )
        produce_s = time.perf_counter() - started
        texts = [e.text for t, e in read_dataset(args.data, limit=args.limit) if t == "reviews"]
        model_s = engine_seconds(texts, settings.batch_size)
        topics = [settings.topic(t) for t in INPUTS]
        bare_s = asyncio.run(bare_consume(broker.bootstrap, topics, total))
        worker = WorkerProcess(broker.bootstrap, "bench.", Path(tmp), {"PULSE_APP_ID": "bench"})
        worker.start()
        started = time.perf_counter()
        try:
            while worker.seen_total() < total:
                time.sleep(0.2)
            worker_s = time.perf_counter() - started
        finally:
            worker.stop()
    print(f"dataset           {args.data.name}: {total} events")
    print(f"produce           {total / produce_s:10.0f} events/s")
    print(f"bare consumer     {total / bare_s:10.0f} events/s (read + JSON decode)")
    print(f"pulse worker      {total / worker_s:10.0f} events/s (validate, dedup, state, feedback)")
    print(f"ratio worker/bare {bare_s / worker_s:10.3f}")
    print(f"worker ready in   {worker.ready_after:10.2f} s (process start to /health ready)")
    if texts:
        rate = len(texts) / model_s
        print(f"sentiment alone   {rate:10.0f} reviews/s ({len(texts)} texts, one core)")


if __name__ == "__main__":
    main()
