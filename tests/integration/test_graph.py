"""The knowledge graph on live workers: every worker that applied the same feedback log holds
the same graph (digest), a restarted one (stopped, killed, or with a damaged snapshot) gets
back to it from its snapshot plus the log, the views answer from it, and the memory bounds
hold while a long log replays.

The tests write feedback records straight to the feedback topic (as the input agent
would, with a few re-sent and unreadable ones), so the log and its end are known exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest

from graph import digest
from graph.queries import product_aspects, random_walk, related_products, user_neighbourhood
from streams.graph_replica import new_graph
from streams.procs import WorkerProcess
from streams.producing import publish
from streams.replica import RecentIds
from streams.settings import Settings

pytestmark = pytest.mark.integration

T0 = 1_764_300_000.0
TEXTS = [
    ("The battery is great and the screen is sharp.", 0.8),
    ("The battery died after a week, poor quality.", -0.7),
    ("Delivery was fast, good price.", 0.6),
    ("The cable broke and the sound is awful.", -0.8),
    ("物流很快，质量很好", 0.9),
    ("屏幕有划痕，包装也破了", -0.7),
    ("客服态度差，电池不耐用", -0.8),
]


def feedback_log(n: int, seed: int, users: int = 300, products: int = 120) -> list[bytes]:
    """``n`` feedback values: clicks, sales, reviews (both languages, scored or rated),
    catalog updates; one in 50 re-sends an earlier event, one in 400 is unreadable."""
    rng, out, sent = random.Random(seed), list[bytes](), list[bytes]()
    for i in range(n):
        if i % 400 == 399:
            out.append(b'{"topic": "clicks", "event": {"event_id": "bad' + str(i).encode() + b'"}}')
            continue
        if i % 50 == 49 and sent:
            out.append(rng.choice(sent))
            continue
        ts = T0 + i * 7.0
        user, product = f"u{rng.randrange(users)}", f"p{int(rng.paretovariate(1.2)) % products}"
        event: dict[str, Any] = {"event_id": f"e{seed}-{i}", "ts": ts, "user_id": user,
                                 "product_id": product, "category_id": f"c{int(product[1:]) % 9}"}  # fmt: skip
        r = rng.random()
        if r < 0.7:
            action = rng.choice(["view"] * 6 + ["add_to_cart", "favorite", "remove_from_cart"])
            record: dict[str, Any] = {"topic": "clicks", "event": {**event, "action": action}}
        elif r < 0.85:
            record = {"topic": "sales", "event": {**event, "quantity": rng.randint(1, 3)}}
        elif r < 0.97:
            text, score = rng.choice(TEXTS)
            record = {
                "topic": "reviews",
                "event": {**event, "text": text, "rating": rng.randint(1, 5)},
            }
            if rng.random() < 0.7:
                record["sentiment"] = {"score": score, "label": "x", "confidence": 0.9,
                                       "model_version": "t"}  # fmt: skip
        else:
            record = {"topic": "products", "event": {"event_id": event["event_id"], "ts": ts,
                                                     "product_id": product, "category_id": "c-new"}}  # fmt: skip
        value = orjson.dumps(record)
        out.append(value)
        sent.append(value)
    return out


def send(prefix: str, bootstrap: str, values: list[bytes]) -> None:
    asyncio.run(
        publish(Settings(topic_prefix=prefix), bootstrap, [("feedback", v) for v in values])
    )


def let_through(values: list[bytes]) -> list[dict[str, Any]]:
    """The records a replica's event-id window lets through to its models, in log order."""
    recent, out = RecentIds(Settings().replica_dedup_ids), []
    for value in values:
        try:
            record = orjson.loads(value)
            event_id = str(record["event"]["event_id"])
        except (KeyError, TypeError):
            continue
        if recent.add(event_id):
            out.append(record)
    return out


def local_graph(values: list[bytes]) -> Any:
    """What a worker's graph should hold after ``values``."""
    g = new_graph(Settings())
    for record in let_through(values):
        with contextlib.suppress(ValueError):  # unreadable: the graph is unchanged
            g.apply(record)
    return g


@pytest.fixture
def workers(broker, prefix: str, tmp_path: Path) -> Iterator[Callable[..., list[WorkerProcess]]]:
    """Start workers (one per env mapping) side by side, and stop them all side by side:
    their group joins and shutdowns overlap instead of queueing."""
    started: list[WorkerProcess] = []

    def start(*envs: dict[str, str]) -> list[WorkerProcess]:
        new = [
            WorkerProcess(broker.bootstrap, prefix, tmp_path / f"w{len(started) + i}", env)
            for i, env in enumerate(envs)
        ]
        started.extend(new)
        return together(WorkerProcess.start, new)

    yield start
    together(WorkerProcess.stop, started)


def together(method: Callable[[WorkerProcess], Any], workers: list[WorkerProcess]) -> list[Any]:
    """``method`` on every worker at once (threads); their results, or the first error."""
    with ThreadPoolExecutor(max_workers=max(1, len(workers))) as pool:
        return list(pool.map(method, workers))


def stats(worker: WorkerProcess, with_digest: bool = False) -> dict[str, Any]:
    return dict(worker.get("/graph/stats" + ("?digest=1" if with_digest else "")))


def caught_up(worker: WorkerProcess, end: int, timeout: float = 60.0) -> dict[str, Any]:
    """The worker's graph stats (with digest) once its replica has applied ``end`` records."""
    deadline = time.monotonic() + timeout
    while (answer := stats(worker))["offset"] < end:
        assert time.monotonic() < deadline, f"offset {answer['offset']} of {end}"
        time.sleep(0.1)
    return stats(worker, with_digest=True)


def test_two_workers_given_the_same_log_hold_the_same_graph_and_answer_from_it(
    workers, broker, prefix: str
) -> None:
    pair = workers({}, {})
    values = feedback_log(3000, seed=1)
    send(prefix, broker.bootstrap, values)
    answers = [caught_up(w, len(values)) for w in pair]
    expected = local_graph(values)
    assert answers[0]["digest"] == answers[1]["digest"] == digest(expected)
    assert answers[0]["edge_count"] == expected.n_edges > 1000
    assert answers[0]["counters"]["aspect_mentions"] > 100
    assert answers[0]["restored"]["note"].startswith("no snapshot")

    w = pair[1]
    product = "p1"
    assert w.get(f"/graph/products/{product}/related?k=5")["related"] == related_products(
        expected, product, 5
    )
    aspects = w.get(f"/graph/products/{product}/aspects")
    assert aspects == product_aspects(expected, product)
    assert aspects["praised"] and aspects["complained"] and aspects["mentions"] > 0
    assert w.get("/graph/users/u7/neighbourhood?k=3") == user_neighbourhood(expected, "u7", 3)
    walk = w.get("/graph/users/u7/walk?k=10")
    assert [(i["product_id"], i["score"]) for i in walk["items"]] == random_walk(expected, "u7")
    assert "unknown product" in w.get("/graph/products/nope/related")["error"]
    assert "unknown user" in w.get("/graph/users/nope/walk")["error"]
    assert "k must be" in w.get(f"/graph/products/{product}/related?k=100000")["error"]
    metrics = w.metrics_text()
    assert 'pulse_graph_records_total{outcome="applied"}' in metrics
    assert f'pulse_graph_edges{{kind="viewed"}} {float(expected.type_counts[0])}' in metrics


def test_restarted_workers_get_back_to_the_same_graph_from_their_snapshots(
    workers, broker, prefix: str
) -> None:
    """Stopped (SIGTERM), killed (SIGKILL), and stopped with its snapshot cut in half."""
    ways = ("stop", "kill", "damage")
    steady, *others = workers({}, *[{"PULSE_GRAPH_SNAPSHOT_INTERVAL": "0.2"}] * len(ways))
    restarted = dict(zip(ways, others, strict=True))
    values = feedback_log(4000, seed=2)
    first = 2500
    send(prefix, broker.bootstrap, values[:first])
    deadline = time.monotonic() + 60
    for worker in others:
        caught_up(worker, first)
        while stats(worker)["snapshot"]["offset"] != first:
            assert time.monotonic() < deadline, stats(worker)["snapshot"]
            time.sleep(0.1)
    restarted["kill"].kill()
    together(WorkerProcess.stop, [restarted["stop"], restarted["damage"]])
    (damaged,) = Path(restarted["damage"].folder).rglob("*.snap")
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    send(prefix, broker.bootstrap, values[first:])  # while they are down
    together(WorkerProcess.start, others)

    expected = caught_up(steady, len(values))["digest"]
    assert expected == digest(local_graph(values))
    skipped = 'pulse_graph_records_total{outcome="skipped"}'
    for how, worker in restarted.items():
        after = caught_up(worker, len(values))
        assert after["digest"] == expected, how
        if how == "damage":
            assert after["restored"]["snapshot"] is None
            assert "unreadable" in after["restored"]["note"]
            assert f"{skipped} 0.0" in worker.metrics_text()
        else:
            assert after["restored"]["note"] == "loaded", how
            assert after["restored"]["offset"] == first, how
            below = len(let_through(values[:first]))
            assert f"{skipped} {float(below)}" in worker.metrics_text(), how


def test_the_memory_bounds_hold_while_a_long_log_replays(workers, broker, prefix: str) -> None:
    max_edges, max_bytes = 1500, 1_000_000
    by_edges, by_bytes = workers(
        {"PULSE_GRAPH_MAX_EDGES": str(max_edges)}, {"PULSE_GRAPH_MAX_BYTES": str(max_bytes)}
    )
    values = feedback_log(30_000, seed=3, users=5000, products=3000)
    send(prefix, broker.bootstrap, values)
    seen: list[tuple[int, int, int]] = []
    while True:
        a, b = stats(by_edges), stats(by_bytes)
        seen.append((a["edge_count"], b["estimated_bytes"], b["edge_count"]))
        assert a["edge_count"] <= max_edges, a
        assert b["estimated_bytes"] <= max_bytes, b
        if min(a["offset"], b["offset"]) >= len(values):
            break
        time.sleep(0.05)
    assert len(seen) >= 10, "the replay was too quick to watch"
    assert a["counters"]["pruned_edges_cap"] > 5000 and b["counters"]["pruned_edges_cap"] > 5000
    assert max(s[0] for s in seen) > max_edges * 0.85  # it filled up to the cap
    assert max(s[1] for s in seen) > max_bytes * 0.8
    assert 'pulse_graph_pruned_total{kind="edge",reason="cap"}' in by_edges.metrics_text()
