"""Reviews on the real embedded broker come out scored on ``reviews.scored``: in order
per product, none lost, malformed ones dead-lettered; the model swaps without a restart."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from pathlib import Path

import orjson
import pytest

from models.sentiment import DEFAULT_MODEL_DIR
from streams.producing import publish
from streams.settings import Settings
from tests.integration.topics import consume

pytestmark = pytest.mark.integration

TS = 1_764_300_000.0
TEXTS = [
    "质量很好，物流也快，非常满意",
    "太差了，用了一天就坏了，再也不买",
    "Great phone, the battery lasts two days.",
    "Terrible. It broke after a week and support never answered.",
    "东西不错 but the delivery was slow",
    "",
    "😀😀😀",
    "好" * 19_000,  # long (57 KB) but within limits: the featurizer truncates it
]


def review(i: int, text: str, pid: str) -> bytes:
    return orjson.dumps(
        {"event_id": f"r{i}", "ts": TS + i, "user_id": f"u{i}", "product_id": pid, "text": text}
    )


def test_reviews_are_scored_in_order_per_product_and_bad_ones_dead_lettered(
    spawn_worker, broker, prefix: str
) -> None:
    worker = spawn_worker(PULSE_MAX_PAYLOAD_BYTES=str(512 * 1024))
    items = [("reviews", review(i, TEXTS[i % len(TEXTS)], f"p{i % 3}")) for i in range(60)]
    bad = [
        (
            "reviews",
            b'{"event_id": "bad1", "ts": 1764300000, "user_id": "u", "product_id": "p0", '
            b'"text": "\xff\xfe broken utf-8"}',
        ),
        ("reviews", review(999, "x" * 1_000_000, "p0")),  # 1 MB: over the payload limit
        ("reviews", b'{"event_id": "bad3", "ts": 1764300000, "product_id": "p0", "text": 5}'),
    ]
    settings = Settings(topic_prefix=prefix)
    asyncio.run(publish(settings, broker.bootstrap, items[:30] + bad + items[30:]))

    scored = asyncio.run(consume(broker.bootstrap, f"{prefix}reviews.scored", 60))
    values = [orjson.loads(r.value) for r in scored]
    assert sorted(v["event_id"] for v in values) == sorted(f"r{i}" for i in range(60)), (
        worker.log_tail(60)
    )
    version = worker.get("/model")["version"]
    for record, value in zip(scored, values, strict=True):
        assert record.key == value["product_id"].encode()
        assert -1.0 <= value["score"] <= 1.0 and 0.0 <= value["confidence"] <= 1.0
        assert value["label"] in {"negative", "neutral", "positive"}
        assert value["model_version"] == version
        assert value["text"] == TEXTS[int(value["event_id"][1:]) % len(TEXTS)]
    by_id = {v["event_id"]: v for v in values}
    assert by_id["r0"]["label"] == "positive" and by_id["r1"]["label"] == "negative"
    assert by_id["r2"]["label"] == "positive" and by_id["r3"]["label"] == "negative"
    assert by_id["r5"]["label"] == "neutral" and by_id["r5"]["score"] == 0.0  # empty text
    for pid in ("p0", "p1", "p2"):  # one partition per product: publish order kept
        order = [int(v["event_id"][1:]) for v in values if v["product_id"] == pid]
        assert order == sorted(order)

    letters = asyncio.run(consume(broker.bootstrap, f"{prefix}deadletter", 3))
    reasons = sorted(dict(r.headers)["pulse.reason"].decode() for r in letters)
    assert reasons == ["invalid_fields", "not_utf8", "too_large"]
    (big,) = [r for r in letters if dict(r.headers)["pulse.reason"] == b"too_large"]
    assert int(dict(big.headers)["pulse.truncated_from"]) > 1_000_000
    assert big.value == bad[1][1][: len(big.value)], "cut, and the original is at its offset"

    deadline = time.monotonic() + 30
    while _count_24h(worker.get("/products/p0?at=latest")) != 20:
        assert time.monotonic() < deadline, worker.get("/products/p0?at=latest")
        time.sleep(0.3)
    metrics = worker.metrics_text()
    assert 'pulse_sentiment_provider_info{provider="CPUExecutionProvider"} 1.0' in metrics
    assert "pulse_sentiment_reviews_total 60.0" in metrics, "clauses are counted apart"
    clauses = re.search(r"^pulse_sentiment_clauses_total (\S+)$", metrics, re.MULTILINE)
    assert clauses is not None and float(clauses.group(1)) > 0, "质量很好，物流也快: two clauses"


def test_model_swap_needs_the_token_rejects_broken_models_and_switches_atomically(
    spawn_worker, broker, prefix: str, tmp_path: Path
) -> None:
    worker = spawn_worker(PULSE_ADMIN_TOKEN="s3cret")
    before = worker.get("/model")
    assert before["provider"] == "CPUExecutionProvider"

    candidate = tmp_path / "mine"
    shutil.copytree(DEFAULT_MODEL_DIR, candidate)
    card = json.loads((candidate / "card.json").read_text())
    card["version"] = "mine-2"
    (candidate / "card.json").write_text(json.dumps(card))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")

    assert worker.post("/admin/model", {"path": str(candidate)})[0] == 401
    assert worker.post("/admin/model", {"path": str(candidate)}, token="wrong")[0] == 401
    status, body = worker.post("/admin/model", {"path": str(broken)}, token="s3cret")
    assert status == 400 and "not a loadable ONNX model" in body["error"]
    assert worker.post("/admin/model", {"nope": 1}, token="s3cret")[0] == 400
    assert worker.get("/model")["version"] == before["version"], "the old model keeps serving"

    status, body = worker.post("/admin/model", {"path": str(candidate)}, token="s3cret")
    assert status == 200 and body["version"] == "mine-2"
    settings = Settings(topic_prefix=prefix)
    asyncio.run(publish(settings, broker.bootstrap, [("reviews", review(1, TEXTS[0], "p1"))]))
    (record,) = asyncio.run(consume(broker.bootstrap, f"{prefix}reviews.scored", 1))
    assert orjson.loads(record.value)["model_version"] == "mine-2"
    assert 'pulse_sentiment_model_info{version="mine-2"} 1.0' in worker.metrics_text()


def _count_24h(snapshot: dict) -> int | None:
    return (snapshot.get("sentiment") or {}).get("24h", {}).get("count")
