"""Rules on the real embedded broker: events become explained decisions on ``decisions``,
each once, also across a redelivery and a worker restart; rule files reload hot, and a
bad one is rejected with its line while the running rules keep deciding."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from rules import DEFAULT_RULES
from streams.producing import publish
from streams.settings import Settings
from tests.integration.topics import read_all

pytestmark = pytest.mark.integration

TS = 1_764_300_000.0
ANGRY = "太差了，用了一天就坏了，客服也不理人，再也不买"


def event(**fields: Any) -> bytes:
    return orjson.dumps(fields)


def angry_review(i: int, pid: str = "p1") -> tuple[str, bytes]:
    body = event(event_id=f"r{i}", ts=TS + i, user_id=f"u{i}", product_id=pid, text=ANGRY, rating=1)
    return "reviews", body


def restock_story(pid: str = "p2") -> list[tuple[str, bytes]]:
    """Stock 10, lead time 7 days, then 3 sales of 2 units: 6 units/day x 7 days > 4 left."""
    items = [
        (
            "products",
            event(
                event_id=f"{pid}-cat", ts=TS, product_id=pid, stock=10, lead_time_days=7, price=20.0
            ),
        )
    ]
    for i in range(3):
        items.append(
            (
                "sales",
                event(
                    event_id=f"{pid}-s{i}",
                    ts=TS + 10 + i,
                    user_id=f"b{i}",
                    product_id=pid,
                    quantity=2,
                    price=20.0,
                ),
            )
        )
    return items


def hesitant_user(pid: str = "p3", user: str = "hesitant") -> list[tuple[str, bytes]]:
    return [
        (
            "clicks",
            event(event_id=f"v{i}", ts=TS + 20 + i, user_id=user, product_id=pid, action="view"),
        )
        for i in range(3)
    ]


def by_rule(decisions: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in decisions:
        out.setdefault(d["rule_id"], []).append(d)
    return out


def test_events_become_explained_decisions_once_across_redelivery_and_restart(
    spawn_worker, broker, prefix: str
) -> None:
    worker = spawn_worker()
    settings = Settings(topic_prefix=prefix)
    story = [angry_review(1), *restock_story(), *hesitant_user()]
    # the stock figure first: sales read before it (another topic) would not count against it
    asyncio.run(publish(settings, broker.bootstrap, story[1:2]))
    deadline = time.monotonic() + 30
    while worker.get("/products/p2").get("catalog", {}).get("stock") != 10:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    asyncio.run(publish(settings, broker.bootstrap, story[:1] + story[2:]))
    first = asyncio.run(read_all(broker.bootstrap, f"{prefix}decisions", at_least=3))
    rules = by_rule(first)

    (angry,) = rules["escalate_angry_review"]
    assert angry["action"] == "escalate_to_support" and angry["key"] == "r1"
    assert (angry["subject_type"], angry["subject_id"]) == ("review", "r1")
    assert angry["trigger_event_id"] == "r1" and angry["evidence"]["review_text"] == ANGRY
    assert "Angry review of product p1 by user u1" in angry["reason"]
    assert angry["model_versions"]["sentiment"] == worker.get("/model")["version"]

    (restock,) = rules["restock_low_stock"]
    assert (restock["subject_id"], restock["action"]) == ("p2", "restock")
    assert restock["trigger_event_id"] == "p2-s2", "fires on the third sale (min evidence 3)"
    assert "sells 6 units a day" in restock["reason"] and "only 4 are in stock" in restock["reason"]
    assert restock["params"]["quantity"] == 2 * 6 * 7 - 4

    (win_back,) = rules["win_back_hesitant_user"]
    assert (win_back["subject_type"], win_back["subject_id"]) == ("user", "hesitant")
    assert win_back["trigger_event_id"] == "v2" and win_back["params"]["product_id"] == "p3"
    assert "viewed product p3 3 times" in win_back["reason"]

    # the same events again (a producer retry), then a restart and more of them
    asyncio.run(publish(settings, broker.bootstrap, story))
    worker.stop()
    worker.start()
    asyncio.run(publish(settings, broker.bootstrap, [*story, angry_review(2)]))
    after = asyncio.run(read_all(broker.bootstrap, f"{prefix}decisions", at_least=len(first) + 1))
    ids = [d["decision_id"] for d in after]
    assert len(ids) == len(set(ids)) == len(first) + 1, by_rule(after).keys()
    assert by_rule(after)["escalate_angry_review"][-1]["trigger_event_id"] == "r2"
    metrics = worker.metrics_text()
    assert (
        'pulse_rules_decisions_total{action="escalate_to_support",rule="escalate_angry_review"} 1.0'
        in metrics
    )


#: Reviews that praise the screen and blame the battery, in clauses the bundled model
#: scores apart (tests/streams/test_mentions.py checks such a pair with it).
MIXED = [
    "Great screen, but the battery dies in an hour.",
    "The screen is bright and sharp, but the battery dies before lunch.",
    "Screen is excellent but the battery dies far too fast.",
    "Good screen, but the battery dies by noon.",
    "I like the screen but the battery is awful.",
]


def test_complaints_about_one_aspect_alert_the_product_team(
    spawn_worker, broker, prefix: str
) -> None:
    worker = spawn_worker()
    settings = Settings(topic_prefix=prefix)
    reviews = [
        (
            "reviews",
            event(event_id=f"m{i}", ts=TS + 40 + i, user_id=f"m{i}", product_id="p6", text=t),
        )
        for i, t in enumerate(MIXED)
    ]
    asyncio.run(publish(settings, broker.bootstrap, reviews[:4]))
    deadline = time.monotonic() + 30
    while worker.get("/products/p6?at=latest").get("complaints_1h") != {"battery": 4}:
        assert time.monotonic() < deadline, worker.get("/products/p6?at=latest")
        time.sleep(0.2)
    asyncio.run(publish(settings, broker.bootstrap, [*reviews[4:], *reviews]))  # and retries
    decisions = asyncio.run(read_all(broker.bootstrap, f"{prefix}decisions", at_least=1))
    (alert,) = by_rule(decisions)["alert_aspect_complaints"]
    assert alert["trigger_event_id"] == "m4" and alert["params"]["topic"] == "battery"
    assert alert["reason"].startswith("5 complaints about 'battery' on product p6 in the last hour")
    assert worker.get("/products/p6?at=latest")["complaints_1h"] == {"battery": 5}
    while worker.get("/graph/stats").get("offset", -1) < len(MIXED):  # the five reviews
        assert time.monotonic() < deadline + 30, worker.get("/graph/stats")
        time.sleep(0.2)
    aspects = worker.get("/graph/products/p6/aspects")
    assert [r["aspect"] for r in aspects["complained"]] == ["battery"]
    assert "screen" in [r["aspect"] for r in aspects["praised"]], "the screen is praised"


BAD_RULE = """rules:
  - id: broken
    description: refers to a fact that does not exist
    version: 1
    triggers: click
    when: views_1h > 3 and no_such_fact == 1
    then:
      action: alert
    reason: never
"""

FAVORITE_RULE = """rules:
  - id: tell_on_favorite
    description: Alert when someone marks p9 as a favourite.
    version: 1
    triggers: click
    when: click_action == "favorite" and product_id == "p9"
    then:
      action: alert
      params:
        channel: test
    reason: User {user_id} likes {product_id}.
"""


def test_rule_files_reload_hot_and_a_bad_one_keeps_the_running_rules(
    spawn_worker, broker, prefix: str, tmp_path: Path
) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES, folder)
    worker = spawn_worker(
        PULSE_RULES_PATH=str(folder), PULSE_RULES_WATCH_INTERVAL="0.5", PULSE_ADMIN_TOKEN="tok"
    )
    settings = Settings(topic_prefix=prefix)
    loaded = len(worker.get("/rules")["rules"])

    (folder / "zz_broken.yaml").write_text(BAD_RULE)
    deadline = time.monotonic() + 20
    while not worker.get("/rules")["last_errors"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    (error,) = worker.get("/rules")["last_errors"]
    assert "zz_broken.yaml:6" in error and "no_such_fact" in error and "broken" in error
    status, body = worker.post("/admin/rules/reload", {}, token="tok")
    assert status == 400 and "previous rules kept" in body["message"]
    assert worker.post("/admin/rules/reload", {})[0] == 401
    assert len(worker.get("/rules")["rules"]) == loaded

    asyncio.run(publish(settings, broker.bootstrap, [angry_review(1)]))
    (decision,) = asyncio.run(read_all(broker.bootstrap, f"{prefix}decisions"))
    assert decision["rule_id"] == "escalate_angry_review", "the running rules still decide"

    (folder / "zz_broken.yaml").unlink()
    (folder / "favorite.yaml").write_text(FAVORITE_RULE)
    while "tell_on_favorite" not in {r["id"] for r in worker.get("/rules")["rules"]}:
        assert time.monotonic() < deadline + 20
        time.sleep(0.2)
    click = event(event_id="f1", ts=TS, user_id="u7", product_id="p9", action="favorite")
    asyncio.run(publish(settings, broker.bootstrap, [("clicks", click)]))
    decisions = asyncio.run(read_all(broker.bootstrap, f"{prefix}decisions", at_least=2))
    assert decisions[-1]["rule_id"] == "tell_on_favorite"
    assert decisions[-1]["reason"] == "User u7 likes p9."
    assert 'pulse_rules_reloads_total{outcome="failed"}' in worker.metrics_text()


QUIET_RULE = """rules:
  - id: product_went_quiet
    description: A product viewed earlier today but not in the last hour.
    version: 1
    triggers: tick
    when: views_1h == 0 and views_24h >= 2
    window: 1h
    then:
      action: alert
      params:
        channel: test
    reason: Product {product_id} had {views_24h} views today and none in the last hour.
"""


def test_ticks_decide_on_windows_without_new_events_once_per_window(
    spawn_worker, broker, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "quiet.yaml").write_text(QUIET_RULE)
    worker = spawn_worker(PULSE_RULES_PATH=str(tmp_path / "quiet.yaml"), PULSE_TICK_INTERVAL="0.5")
    views = [
        (
            "clicks",
            event(
                event_id=f"q{i}", ts=TS - 7200 + i, user_id="u", product_id="quiet", action="view"
            ),
        )
        for i in range(3)
    ]
    busy = event(event_id="b1", ts=TS, user_id="u", product_id="busy", action="view")
    settings = Settings(topic_prefix=prefix)
    asyncio.run(publish(settings, broker.bootstrap, [*views, ("clicks", busy)]))
    decisions = asyncio.run(read_all(broker.bootstrap, f"{prefix}decisions", settle=3.0))
    assert [(d["rule_id"], d["subject_id"], d["trigger"]) for d in decisions] == [
        ("product_went_quiet", "quiet", "tick")
    ], "one decision per window however many ticks ran, none for the busy product"
    assert decisions[0]["reason"] == "Product quiet had 3 views today and none in the last hour."
    assert decisions[0]["trigger_event_id"].startswith("tick:quiet:")
    metrics = worker.metrics_text()
    assert 'pulse_rules_decisions_total{action="alert",rule="product_went_quiet"} 1.0' in metrics
