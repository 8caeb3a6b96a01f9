"""Real reviews (Amazon multi-domain) replayed through a live worker that is stopped
(SIGTERM) or killed (SIGKILL) mid-replay and restarted, then replayed again: every angry
review is escalated exactly once, with the review's own text and ids as evidence, and no
``decision_id`` appears twice."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from streams.metrics import Metrics
from streams.producing import publish
from streams.replay import read_dataset
from streams.schemas import ReviewEvent
from streams.sentiment import LiveModel
from streams.settings import Settings, load_settings
from tests.integration.topics import read_all

pytestmark = [pytest.mark.integration, pytest.mark.data]

AMAZON = "en_amazon_multidomain_sentiment/multidomain_sentiment_labeled.csv.gz"
LIMIT = 3000


def angry(reviews: list[ReviewEvent]) -> tuple[set[str], set[str]]:
    """Event ids the default escalation rule must fire on, and those too close to call."""
    model = LiveModel.start(load_settings(sentiment_providers="cpu"), Metrics())
    sure, close = set(), set()
    for review, p in zip(reviews, model([r.text for r in reviews]), strict=True):
        fires = p.label == "negative" and p.score <= -0.6 and (review.rating or 1) <= 2
        if abs(p.score + 0.6) < 1e-4:
            close.add(review.event_id)
        elif fires:
            sure.add(review.event_id)
    return sure, close


@pytest.mark.parametrize("signal", [signal.SIGTERM, signal.SIGKILL], ids=["stop", "kill"])
def test_real_reviews_with_a_restart_escalate_each_angry_review_once(
    spawn_worker, broker, prefix: str, shared_data: Path, signal: int
) -> None:
    pairs = list(read_dataset(shared_data / AMAZON, limit=LIMIT))
    reviews = {e.event_id: e for _, e in pairs if isinstance(e, ReviewEvent)}
    expected, close = angry(list(reviews.values()))
    assert len(expected) > 500
    settings = Settings(topic_prefix=prefix)

    worker = spawn_worker()
    asyncio.run(publish(settings, broker.bootstrap, pairs[: LIMIT // 2]))
    deadline = time.monotonic() + 120
    while worker.seen_total() < LIMIT // 4:  # stop it mid-way through the first half
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.stop(signal)
    worker.start()
    asyncio.run(publish(settings, broker.bootstrap, pairs))  # the first half again, then the rest
    while worker.seen_total() < LIMIT:  # the restarted worker counts at least the whole file
        assert time.monotonic() < deadline + 300, worker.event_counts()
        time.sleep(0.5)

    decisions = asyncio.run(
        read_all(broker.bootstrap, f"{prefix}decisions", at_least=len(expected), settle=5.0)
    )
    ids = [d["decision_id"] for d in decisions]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} decisions emitted twice"
    escalated = {
        d["trigger_event_id"]: d for d in decisions if d["rule_id"] == "escalate_angry_review"
    }
    assert set(escalated) - close == expected - close
    for event_id, d in escalated.items():
        review = reviews[event_id]
        assert d["evidence"]["review_text"] == review.text
        assert (d["subject_type"], d["subject_id"], d["key"]) == ("review", event_id, event_id)
        assert f"product {review.product_id} by user {review.user_id}" in d["reason"]
