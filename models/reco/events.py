"""Feedback-log records (as ``streams.processor.feedback_record`` writes them) to interactions.

Graded feedback: a view counts 1, a favourite 2, an add-to-cart 3, a purchase 5,
a review 4; a review's rating (1-5), or else its sentiment score mapped to 1-5, is
the explicit rating that :class:`models.reco.mf.BiasedMF` learns. Removing from the
cart teaches nothing. Product events carry catalog facts (category, stock).

>>> to_interaction({"topic": "clicks", "event": {"event_id": "e", "ts": 5.0, "user_id": "u",
...                 "product_id": "p", "action": "add_to_cart", "category_id": "c"}})
Interaction(user='u', item='p', weight=3.0, ts=5.0, category='c', purchased=False, rating=None)
>>> to_interaction({"topic": "reviews", "event": {"event_id": "r", "ts": 1.0, "user_id": "u",
...                 "product_id": "p", "text": "", "rating": 2}}).rating
2.0
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from models.exceptions import InvalidInputError

#: Weight of each click action (None: not learned).
CLICK_WEIGHTS: dict[str, float | None] = {
    "view": 1.0,
    "favorite": 2.0,
    "add_to_cart": 3.0,
    "remove_from_cart": None,
}
PURCHASE_WEIGHT = 5.0
REVIEW_WEIGHT = 4.0


class Interaction(NamedTuple):
    user: str
    item: str
    weight: float
    ts: float
    category: str | None
    purchased: bool
    rating: float | None


def to_interaction(record: dict[str, Any]) -> Interaction | None:
    """The interaction a record teaches, or None (product updates, cart removals)."""
    try:
        topic, event = record["topic"], record["event"]
        if topic == "products":
            return None
        weight, rating = _grade(topic, event, record.get("sentiment"))
        if weight is None:
            return None
        ts = float(event["ts"])
        if not math.isfinite(ts):
            raise ValueError("ts is not finite")
        user, item = str(event["user_id"]), str(event["product_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"not a feedback record the recommender can learn: {exc!r}"
        ) from exc
    category = event.get("category_id")
    return Interaction(
        user,
        item,
        weight,
        ts,
        None if category is None else str(category),
        topic == "sales",
        rating,
    )


def _grade(topic: str, event: dict[str, Any], sentiment: Any) -> tuple[float | None, float | None]:
    if topic == "clicks":
        return CLICK_WEIGHTS[event["action"]], None
    if topic == "sales":
        return PURCHASE_WEIGHT, None
    if topic == "reviews":
        if event.get("rating") is not None:
            return REVIEW_WEIGHT, float(event["rating"])
        if isinstance(sentiment, dict) and sentiment.get("score") is not None:
            return REVIEW_WEIGHT, 3.0 + 2.0 * float(sentiment["score"])
        return REVIEW_WEIGHT, None
    raise ValueError(f"unknown topic {topic!r}")
