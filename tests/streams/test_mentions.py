"""A review's mentions: each aspect with the sentiment of the clause that names it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from graph.aspects import extract_aspects
from streams.mentions import Mention, record_fields, review_mentions
from streams.schemas import ReviewEvent
from streams.scoring import Sentiment
from streams.sentiment import load_engine
from streams.settings import load_settings

MIXED = "Great screen, but the battery dies in an hour."


def review(text: str, rating: int | None = None, i: int = 0) -> ReviewEvent:
    return ReviewEvent(
        event_id=f"r{i}", ts=1.7e9, user_id="u", product_id="p", text=text, rating=rating
    )


def sentiment(score: float) -> Sentiment:
    label = "negative" if score < -0.1 else "positive" if score > 0.1 else "neutral"
    return Sentiment(score, label, 0.9, "m1")


class Keywords:
    """A stand-in model: negative on "dies" or "broke", positive otherwise; it fails on
    a text with "💥" and records every call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: Sequence[str]) -> list[Any]:
        self.calls.append(list(texts))
        if any("💥" in t for t in texts):
            raise RuntimeError("model bug")
        return [sentiment(-0.7 if "dies" in t or "broke" in t else 0.6) for t in texts]


def test_each_aspect_takes_its_clause_s_sentiment_in_one_call_per_batch() -> None:
    model = Keywords()
    reviews = [
        (review(MIXED, i=0), sentiment(-0.2)),
        (review("The battery dies.", i=1), sentiment(-0.8)),  # one clause: the review's
        (review("Nice strap. The lens broke. " + MIXED, i=2), sentiment(-0.3)),
    ]
    found = review_mentions(extract_aspects, model, "m1", reviews)
    assert [[(m.aspect, m.score, m.negative) for m in ms or []] for ms in found] == [
        [("screen", 0.6, False), ("battery", -0.7, True)],
        [("battery", -0.8, True)],
        [
            ("strap", 0.6, False),
            ("lens", -0.7, True),
            ("screen", 0.6, False),
            ("battery", -0.7, True),
        ],
    ]
    (call,) = model.calls
    assert "The battery dies." not in call, "a clause that is the whole review is not scored again"
    assert len(call) == len(set(call)), "a clause is scored once"


def test_a_failed_clause_takes_the_review_s_score_and_a_failed_extraction_gives_none() -> None:
    def extract(text: str, lang: str | None) -> list[tuple[str, str]]:
        if "broken extractor" in text:
            raise ValueError("extractor bug")
        return extract_aspects(text, lang)

    reviews = [
        (review("Fine case. The 💥 battery dies fast.", i=0), sentiment(0.0)),
        (review("broken extractor", i=1), sentiment(0.5)),
    ]
    found = review_mentions(extract, Keywords(), "m1", reviews)
    assert found[1] is None
    by_aspect = {m.aspect: m for m in found[0] or []}
    assert by_aspect["case"] == Mention("case", 0.6, False)
    assert by_aspect["battery"] == Mention("battery", 0.0, False), "the review's own score"


def test_without_a_model_the_rating_decides() -> None:
    reviews = [
        (review(MIXED, rating=1, i=0), None),
        (review(MIXED, rating=3, i=1), None),
        (review(MIXED, i=2), None),
    ]
    found = review_mentions(extract_aspects, None, "", reviews)
    assert [[(m.score, m.negative) for m in ms or []] for ms in found] == [
        [(-1.0, True), (-1.0, True)],
        [(0.0, False), (0.0, False)],
        [(None, False), (None, False)],
    ]
    assert record_fields(found[0] or []) == {
        "aspects": ["screen", "battery"],
        "aspect_scores": [-1.0, -1.0],
    }


@pytest.fixture(scope="module")
def bundled() -> Any:
    settings = load_settings(sentiment_providers="cpu")
    return load_engine(settings, settings.sentiment_model)


@pytest.mark.parametrize(
    ("text", "praised", "blamed"),
    [
        (MIXED, "screen", "battery"),
        ("I love the screen. The battery is terrible and the charger broke.", "screen", "charger"),
        (
            "Shipping was fast and the price is good, but the sound quality is poor.",
            "price",
            "sound quality",
        ),
        ("这个手机屏幕很好，但是电池太差了。", "屏幕", "电池"),
        ("Nice screen, though the battery dies every afternoon.", "screen", "battery"),
    ],
)
def test_the_bundled_model_tells_praise_from_blame_in_one_review(
    bundled: Any, text: str, praised: str, blamed: str
) -> None:
    """The real ONNX model, through the worker's scoring: a mixed review blames one
    aspect and not the other, whatever the review's own label."""
    [scored] = bundled([text])
    own = Sentiment(scored.score, scored.label, scored.confidence, bundled.version)
    [mentions] = review_mentions(extract_aspects, bundled, bundled.version, [(review(text), own)])
    by_aspect = {m.aspect: m for m in mentions or []}
    assert by_aspect[blamed].negative and by_aspect[blamed].score < 0
    assert not by_aspect[praised].negative and by_aspect[praised].score > 0
