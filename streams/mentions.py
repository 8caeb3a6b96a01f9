"""What a review says about each aspect it mentions: the sentiment of the clause that names it.

A review is often mixed ("great screen, but the battery dies in an hour"): its own score
says little about each aspect. :func:`review_mentions` extracts each review's aspects
(:func:`graph.aspects.extract_aspects`, with the sentence or clause of their first
mention) and scores those clauses with the review's sentiment model, in one call for a
whole batch; a clause that is the whole review takes the review's own score, and one the
model could not score takes it too. Without a model's score (no scorer) a mention takes
the star rating's, ``(rating - 3) / 2``, and is negative at two stars or fewer.

A negative mention is a *complaint*: it counts in the product's complaint windows
(:class:`streams.aspect_windows.AspectWindows`), behind the ``aspect_top_negative*``
facts, and names the aspect in the ``review_negative_aspects`` fact. The feedback record
carries the mentions, so every replica's graph sums the same per-aspect sentiment.

>>> from graph.aspects import extract_aspects
>>> from streams.schemas import ReviewEvent
>>> def model(texts):  # a stand-in: negative when the text says "dies"
...     return [Sentiment(-0.7 if "dies" in t else 0.6, "negative" if "dies" in t else
...                       "positive", 0.9, "m1") for t in texts]
>>> review = ReviewEvent(event_id="r1", ts=1.7e9, user_id="u", product_id="p",
...                      text="Great screen, but the battery dies in an hour.")
>>> [mentions] = review_mentions(
...     extract_aspects, model, "m1", [(review, Sentiment(-0.2, "neutral", 0.5, "m1"))])
>>> [(m.aspect, m.score, m.negative) for m in mentions]
[('screen', 0.6, False), ('battery', -0.7, True)]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from graph.aspects import Extractor
from streams.schemas import ReviewEvent
from streams.scoring import Scorer, Sentiment, score_texts

__all__ = ["Mention", "record_fields", "review_mentions"]

log = logging.getLogger(__name__)
#: The label of a negative clause (as the sentiment windows count negative reviews).
NEGATIVE = "negative"
#: Stars at or below which a review without a model's score complains.
NEGATIVE_STARS = 2


class Mention(NamedTuple):
    """One aspect a review mentions, with the sentiment of the clause that names it."""

    aspect: str
    #: In [-1, 1]; None when neither a model's score nor a rating is known.
    score: float | None
    negative: bool


def review_mentions(
    extract: Extractor,
    scorer: Scorer | None,
    version: str,
    reviews: Sequence[tuple[ReviewEvent, Sentiment | None]],
) -> list[list[Mention] | None]:
    """Each review's mentions, in order (None where extraction failed: the review still
    applies, and the replicas' graphs extract its aspects themselves)."""
    found = [_extract(extract, review) for review, _ in reviews]
    clauses = _score_clauses(scorer, version, reviews, found) if scorer is not None else {}
    return [
        None if aspects is None else [_mention(a, clauses.get(c), r, s) for a, c in aspects]
        for (r, s), aspects in zip(reviews, found, strict=True)
    ]


def _score_clauses(
    scorer: Scorer,
    version: str,
    reviews: Sequence[tuple[ReviewEvent, Sentiment | None]],
    found: list[list[tuple[str, str]] | None],
) -> dict[str, Sentiment | None]:
    """The scores of the scored reviews' clauses that are not the whole review, in one
    call (a clause the model failed on: None)."""
    clauses: dict[str, Sentiment | None] = {}
    for (review, sentiment), aspects in zip(reviews, found, strict=True):
        if sentiment is not None and aspects:
            whole = review.text.strip()
            clauses.update((c, None) for _, c in aspects if c.strip() != whole)
    if clauses:
        texts = list(clauses)
        for text, scored in zip(texts, score_texts(scorer, version, texts), strict=True):
            clauses[text] = scored if isinstance(scored, Sentiment) else None
    return clauses


def _extract(extract: Extractor, review: ReviewEvent) -> list[tuple[str, str]] | None:
    try:
        return extract(review.text, review.lang)
    except Exception:  # the event still applies; the replicas extract or count it
        log.exception("aspects of review %s not extracted", review.event_id)
        return None


def _mention(
    aspect: str, clause: Sentiment | None, review: ReviewEvent, sentiment: Sentiment | None
) -> Mention:
    scored = clause or sentiment
    if scored is not None:
        return Mention(aspect, scored.score, scored.label == NEGATIVE)
    if review.rating is None:
        return Mention(aspect, None, False)
    return Mention(aspect, (review.rating - 3) / 2, review.rating <= NEGATIVE_STARS)


def record_fields(mentions: Sequence[Mention]) -> dict[str, Any]:
    """The feedback record's fields for ``mentions``: ``aspects`` (names) and
    ``aspect_scores`` (each clause's score, None where unknown)."""
    return {"aspects": [m.aspect for m in mentions], "aspect_scores": [m.score for m in mentions]}
