"""The models process's pure parts: what each side exports, the settings it is given, the
answers of the model views, and how the worker asks it for a fact (a fake child on a socket
pair; tests/integration/test_models_process.py runs the real one)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from streams import model_views
from streams.metrics import MODELS_FAMILIES, Metrics
from streams.models_process import (
    FACTS_BACKOFF,
    FACTS_TIMEOUT,
    ModelsProcess,
    frame,
    settings_json,
    unframe,
)
from streams.replica import FeedbackReplica
from streams.settings import Settings


def families(text: bytes) -> list[str]:
    return [f.name for f in text_string_to_metric_families(text.decode())]


def test_the_worker_and_its_models_process_export_every_family_once() -> None:
    m = Metrics(CollectorRegistry())
    worker = families(m.render(without=MODELS_FAMILIES))
    models = families(m.render(only=MODELS_FAMILIES))
    assert sorted(worker + models) == sorted(families(m.render()))
    assert "pulse_graph_nodes" in models and "pulse_reco_records" in models
    assert "pulse_stream_events" in worker and "pulse_models_fallbacks" in worker
    assert "pulse_models_feedback_offset" in models


def test_the_child_gets_the_settings_whole_secrets_included(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        topic_prefix="t.",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="pulse",
        kafka_sasl_password="s3cret",
        reco_facts_ttl=0,
    )
    again = Settings(**json.loads(settings_json(settings)))
    assert again == settings
    assert again.kafka_sasl_password is not None
    assert again.kafka_sasl_password.get_secret_value() == "s3cret"


def record(eid: str, user: str, product: str) -> bytes:
    event = {"event_id": eid, "ts": 1.7e9, "user_id": user, "product_id": product}
    return orjson.dumps({"topic": "clicks", "event": {**event, "action": "view"}})


def replica(tmp_path: Path, **settings: Any) -> FeedbackReplica:
    r = FeedbackReplica(
        Settings(data_dir=tmp_path, **settings), "127.0.0.1:1", Metrics(CollectorRegistry())
    )
    for i, (user, product) in enumerate([("u1", "p1"), ("u1", "p2"), ("u2", "p1"), ("u2", "p3")]):
        r.apply(record(f"e{i}", user, product), i)
        r.offset = i + 1
    return r


def test_model_views_answer_from_a_replica(tmp_path: Path) -> None:
    r = replica(tmp_path)
    status, body = model_views.answer(r, "related", {"id": "p1", "k": 5})
    assert status == 200 and {x["product_id"] for x in body["related"]} == {"p2", "p3"}
    assert model_views.answer(r, "related", {"id": "p9", "k": 5}) == (
        404,
        {"error": "unknown product 'p9'"},
    )
    assert model_views.answer(r, "walk", {"id": "p1", "k": 5})[0] == 404  # a product, not a user
    status, body = model_views.answer(r, "walk", {"id": "u1", "k": 5})
    assert status == 200 and body["model"] == "rp3beta"
    status, body = model_views.answer(
        r, "recommendations", {"user_id": "u1", "k": 3, "exclude": []}
    )
    assert status == 200 and (body["model"], body["offset"]) == ("hybrid", 4)
    assert model_views.answer(r, "graph_stats", {"digest": True})[1]["offset"] == 4


def test_model_views_say_what_is_off(tmp_path: Path) -> None:
    r = replica(tmp_path, graph_enabled=False, reco_enabled=False)
    assert model_views.answer(r, "aspects", {"id": "p1", "k": 5}) == (
        404,
        {"error": model_views.GRAPH_OFF},
    )
    assert model_views.answer(r, "reco_stats", {"digest": False}) == (
        404,
        {"error": model_views.RECO_OFF},
    )
    _, body = model_views.answer(r, "recommendations", {"user_id": "u9", "k": 2, "exclude": []})
    assert body["model"] == "popularity" and [x["product_id"] for x in body["items"]] == [
        "p1",
        "p2",
    ]


class FakeChild:
    """The child's end of the facts socket: hello, then each request answered after
    ``delays`` (one per request) with ``["<user>-<k>"]``."""

    def __init__(self, sock: socket.socket, delays: list[float]):
        self.sock, self.delays, self.asked = sock, delays, 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        buffer = bytearray()
        self.sock.sendall(frame({"id": 0, "hello": 1}))
        while chunk := self.sock.recv(65536):
            buffer += chunk
            while (request := unframe(buffer)) is not None:
                self.asked += 1
                time.sleep(self.delays[self.asked - 1])
                answer = [f"{request['user']}-{request['k']}"]
                self.sock.sendall(frame({"id": request["id"], "ok": answer}))


def test_facts_wait_at_most_the_timeout_then_popularity_answers_for_a_while(
    tmp_path: Path,
) -> None:
    metrics = Metrics(CollectorRegistry())
    models = ModelsProcess(Settings(data_dir=tmp_path), "127.0.0.1:1", metrics)
    now = [100.0]
    models.clock = lambda: now[0] + time.monotonic()
    assert models.top_items("u1", 5) is None  # no child
    ours, theirs = socket.socketpair()
    child = FakeChild(theirs, delays=[FACTS_TIMEOUT + 0.2, 0.0, 0.0])
    models._facts = ours  # noqa: SLF001 (what start() sets)
    assert models.top_items("u1", 5) is None  # not greeted yet: never waited for
    child.thread.start()
    time.sleep(0.1)

    started = time.monotonic()
    assert models.top_items("u1", 5) is None  # answered too late
    assert time.monotonic() - started < FACTS_TIMEOUT + 0.1
    assert models.top_items("u2", 5) is None  # backing off: not even asked
    assert child.asked == 1

    now[0] += FACTS_BACKOFF
    time.sleep(0.3)  # the late answer to u1 arrives first, and is dropped
    assert models.top_items("u3", 4) == ["u3-4"]
    assert models.top_items("u4", 1) == ["u4-1"]
    assert metrics.models_fallbacks._value.get() == 4  # noqa: SLF001
    ours.close()
    child.thread.join(1)
