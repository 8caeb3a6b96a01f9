"""A real Prometheus (Debian's package) scrapes live workers under load, finds them through
``pulse up``'s file-based discovery, and answers every query of the dashboard and of the
alert rules with data.

Two workers share the load: one as configured by default, one that asks for CUDA on this
CPU-only machine (so the "inference on CPU while a GPU was asked for" alert really holds),
plus a target where nothing listens (so "a worker down" really holds). The load is the demo
shop with many malformed payloads, angry reviews and hesitant users (so dead letters,
decisions and suppressed decisions really happen), one rule reload and one model swap.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from models.sentiment import DEFAULT_MODEL_DIR
from streams.broker import free_port
from streams.demo import DemoWorkload
from streams.producing import publish
from streams.prometheus import LocalPrometheus, prometheus_binary
from streams.settings import Settings
from tests.docker.promql import (
    PENDING,
    Query,
    alert_queries,
    is_pending,
    panel_queries,
    selectors,
    substitute,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        prometheus_binary() is None,
        reason="prometheus not installed: `make prometheus` installs Debian's package",
    ),
]

#: Scrape and evaluation interval of the test's Prometheus, and the window that stands in
#: for Grafana's $__rate_interval (Grafana makes it at least 4 scrape intervals).
SCRAPE, RATE_WINDOW = "1s", "15s"
RATE = 300.0  # events/s of load
ANGRY = "太差了，用了一天就坏了，客服也不理人，再也不买"
TOKEN = "observability-test-token"
#: Alerts whose condition this test creates, so their full expression must return data.
HOLD_LIVE = {"PulseWorkerDown", "PulseDeadLetterRateHigh", "PulseSentimentOnCpu"}
#: The others: their expressions run and every series they read has data, and
#: docker/prometheus/alerts.test.yml proves they fire (tests/docker/test_prometheus.py).
NOT_LIVE = {
    "PulseConsumerLagGrowing": "needs lag over 1,000 messages growing for 10 minutes",
    "PulseConsumerLagHigh": "needs messages waiting 5 minutes",
    "PulseNoDecisions": "the load makes decisions, which the dashboard must show",
    "PulseModelsProcessRestarting": "needs a models process to die 3 times in 15 minutes",
}


def load(prefix: str, stop: threading.Event) -> Iterator[tuple[str, Any]]:
    """The demo shop (30% of steps add a malformed payload), with an angry review and a
    user viewing one product five times without buying every 40 steps."""
    demo = DemoWorkload(seed=11, malformed_rate=0.3, id_prefix=f"{prefix}demo")
    yield from (("products", e) for e in demo.initial_catalog())
    for i in itertools.count():
        if stop.is_set():
            return
        yield from demo.next_events()
        if i % 40 == 0:
            now = time.time()
            yield "reviews", orjson.dumps(
                {"event_id": f"angry-{i}", "ts": now, "user_id": f"a{i}", "product_id": f"pa{i % 7}",
                 "text": ANGRY, "rating": 1}
            )  # fmt: skip
            for v in range(5):
                yield "clicks", orjson.dumps(
                    {"event_id": f"h{i}-{v}", "ts": now, "user_id": f"h{i}", "product_id": "ph",
                     "action": "view"}
                )  # fmt: skip


class Load:
    """Publishes :func:`load` at :data:`RATE` in a thread until stopped."""

    def __init__(self, settings: Settings, bootstrap: str):
        self.stop_event = threading.Event()
        self.sent = 0
        items = load(settings.topic_prefix, self.stop_event)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(publish(settings, bootstrap, items, RATE, self._count)),
            daemon=True,
        )

    def _count(self, topic: str, n: int) -> None:
        self.sent += n

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(30)


def scalar(prom: LocalPrometheus, expr: str) -> float:
    result = prom.query(expr)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def wait_for(
    prom: LocalPrometheus, conditions: dict[str, float], at_least: float, timeout: float
) -> None:
    """Until every ``expr >= low`` and ``at_least`` seconds have passed."""
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        enough = time.monotonic() >= started + at_least
        if enough and all(scalar(prom, expr) >= low for expr, low in conditions.items()):
            return
        time.sleep(1.0)
    now = {expr: scalar(prom, expr) for expr in conditions}
    pytest.fail(f"the load never got there in {timeout} s: {now}")


def has_value(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(r["value"][1])) for r in result)


def run(prom: LocalPrometheus, query: Query) -> dict[str, Any]:
    answer = prom.query(substitute(query.expr, RATE_WINDOW))
    assert answer["status"] == "success", f"{query.source}: {answer.get('error')}"
    return dict(answer["data"])


@pytest.fixture
def observed(spawn_worker, broker, prefix: str, tmp_path: Path) -> Iterator[Any]:
    """Two loaded workers, a dead target and a Prometheus scraping them every second."""
    scored = {"PULSE_RECO_EVAL_EVERY": "2"}  # prequential HR@10 within the test's minute
    plain = spawn_worker(PULSE_ADMIN_TOKEN=TOKEN, **scored)
    asks_gpu = spawn_worker(PULSE_SENTIMENT_PROVIDERS="cuda,cpu", **scored)
    targets = [f"127.0.0.1:{w.port}" for w in (plain, asks_gpu)] + [f"127.0.0.1:{free_port()}"]
    with (
        LocalPrometheus(tmp_path / "prometheus", targets, scrape_interval=SCRAPE) as prom,
        Load(Settings(topic_prefix=prefix), broker.bootstrap) as running,
    ):
        for path, body in (
            ("/admin/rules/reload", {}),
            ("/admin/model", {"path": str(DEFAULT_MODEL_DIR)}),
        ):
            status, answer = plain.post(path, body, token=TOKEN)
            assert status == 200, answer
        wait_for(
            prom,
            {
                "sum(pulse_rules_decisions_total)": 3,
                "sum(pulse_rules_decisions_suppressed_total)": 1,
                "sum(pulse_stream_dead_letters_total)": 20,
                "sum(pulse_sentiment_reviews_total)": 20,
                "min(pulse_stream_lag_probes_total)": 2,  # each worker measured lag twice
                'count(up{job="pulse"})': 3,
                "sum(pulse_reco_prequential_evaluations_total)": 20,
            },
            at_least=20,  # seconds of load: rate windows full of it
            timeout=120,
        )
        yield prom, (plain, asks_gpu), running


def test_every_dashboard_and_alert_query_returns_data_from_live_workers(observed) -> None:
    prom, workers, running = observed
    targets = prom.api("targets")["data"]["activeTargets"]
    health = sorted(t["health"] for t in targets if t["labels"]["job"] == "pulse")
    assert health == ["down", "up", "up"], "file-based discovery found the three targets"

    empty: list[str] = []
    pending_ok: list[str] = []
    report: list[str] = []
    for query in panel_queries():
        data = run(prom, query)
        pending = is_pending(query)
        if pending is not None:
            assert not data["result"], f"{query.source} has data: move it out of PENDING"
            pending_ok.append(f"{query.source}: pending ({pending.reason})")
        elif not has_value(data["result"]):
            empty.append(query.source)
        else:
            top = max(float(r["value"][1]) for r in data["result"])
            report.append(f"{query.source}: {len(data['result'])} series, largest {top:.4g}")
    assert not empty, f"dashboard queries without data: {empty}"

    for query in alert_queries():
        name = query.source.removeprefix("alert ")
        data = run(prom, query)
        for selector in selectors(query.expr):
            assert run(prom, Query(query.source, selector))["result"], (
                f"{name}: {selector} has no data"
            )
        if name in HOLD_LIVE:
            assert data["result"], f"{name}: its condition holds here, yet the expression is empty"
            report.append(f"{query.source}: holds, {len(data['result'])} series")
        else:
            report.append(f"{query.source}: runs, not held here ({NOT_LIVE[name]})")
    rules = [r for g in prom.api("rules")["data"]["groups"] for r in g["rules"]]
    assert {r["name"] for r in rules} == {q.source.removeprefix("alert ") for q in alert_queries()}
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    assert_pending_metrics_absent(workers[0].url)
    print(f"\n{running.sent} events published; " + "\n".join(report + pending_ok))


def assert_pending_metrics_absent(url: str) -> None:
    """A pending panel's subsystem has landed when metrics with its prefix appear that no
    panel reads: then it must be charted (or the panel fixed) and leave PENDING."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    names = {line.split(" ")[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    read = {s.split("{")[0] for q in panel_queries() for s in selectors(q.expr)}
    for title, pending in PENDING.items():
        landed = {
            n
            for n in names
            if n.startswith(pending.prefix) and not {n, n + "_total", n + "_bucket"} & read
        }
        assert not landed, f"{title}: {sorted(landed)} landed; chart them and drop it from PENDING"
