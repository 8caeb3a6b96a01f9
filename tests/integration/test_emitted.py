"""Published decisions read back from the real embedded broker: the keys of every decision
published before ``caught_up()`` are known when it returns, at start and while running."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from streams.emitted import EmittedDecisions
from streams.producing import start_producer
from streams.settings import Settings
from streams.topics import DECISIONS, ensure_topics

pytestmark = pytest.mark.integration


def decision(i: int) -> bytes:
    return orjson.dumps(
        {
            "decision_id": f"id{i}",
            "rule_id": "win_back",
            "subject_type": "user",
            "subject_id": f"u{i % 7}",
            "trigger_ts": 1_700_000_000 + i,
        }
    )


async def _scenario(bootstrap: str, prefix: str) -> None:
    settings = Settings(topic_prefix=prefix)
    await ensure_topics(settings, bootstrap)
    topic = settings.topic(DECISIONS)
    producer = await start_producer(bootstrap)
    try:
        for i in range(3_000):  # batched: ListOffsets answers inside the last batch
            await producer.send(topic, decision(i), key=b"u%d" % (i % 7))
        await producer.send(topic, b"not json", key=b"x")
        await producer.flush()
        emitted = EmittedDecisions(settings, bootstrap)
        task = asyncio.create_task(emitted.run())
        try:
            assert await emitted.caught_up(timeout=30)
            # at start it reads back the last LOOKBACK records of each partition at most
            assert emitted.get("d:id2999") == 1_700_000_000 + 2_999
            assert emitted.unreadable == 1
            last = {i % 7: 1_700_000_000 + i for i in range(3_000)}
            for user, ts in last.items():
                assert emitted.get(f"c:win_back|user|u{user}") == ts
            for i in range(3_000, 3_050):  # published while it follows the topic
                await producer.send(topic, decision(i), key=b"u%d" % (i % 7))
            await producer.flush()
            assert await emitted.caught_up(timeout=30)
            assert all(emitted.get(f"d:id{i}") is not None for i in range(3_000, 3_050))
            read = emitted.read(lambda key: 1.0 if key == "d:in-table" else None)
            assert (read("d:in-table"), read("d:id3001"), read("d:never")) == (
                1.0,
                1_700_000_000 + 3_001,
                None,
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await producer.stop()


def test_published_decisions_are_known_once_caught_up(broker, prefix: str) -> None:
    asyncio.run(_scenario(broker.bootstrap, prefix))
