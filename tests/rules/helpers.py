"""Realistic facts per trigger, for the rules tests.

They describe a quiet, healthy product on which no default rule fires; tests
override a few facts to make one rule fire, or to come close and not.
"""

from __future__ import annotations

from typing import Any

T0 = 1_700_000_000.0


PRODUCT: dict[str, Any] = {
    "product_id": "p-1",
    "category_id": "c-1",
    "views_1h": 20,
    "carts_1h": 2,
    "orders_1h": 1,
    "units_1h": 1,
    "revenue_1h": 20.0,
    "reviews_1h": 1,
    "conversion_1h": 0.05,
    "sentiment_avg_1h": 0.4,
    "sentiment_count_1h": 6,
    "negative_share_1h": 0.1,
    "views_24h": 400,
    "carts_24h": 40,
    "orders_24h": 20,
    "units_24h": 25,
    "revenue_24h": 500.0,
    "reviews_24h": 10,
    "conversion_24h": 0.05,
    "sentiment_avg_24h": 0.45,
    "sentiment_count_24h": 30,
    "negative_share_24h": 0.1,
    "views_total": 40_000,
    "orders_total": 800,
    "units_total": 1_000,
    "revenue_total": 20_000.0,
    "reviews_total": 100,
    "rating_avg": 4.2,
    "price": 20.0,
    "stock": 500,
    "lead_time_days": 7.0,
    "aspect_top_negative": "battery",
    "aspect_top_negative_1h": 1,
    "aspect_top_negative_hourly_24h": 0.5,
    "anomaly_score": 0.2,
    "anomaly_model_version": "hst-1",
}
USER: dict[str, Any] = {
    "user_id": "u-1",
    "user_product_views": 1,
    "user_product_orders": 0,
    "user_carts_abandoned": 0,
    "user_orders_total": 2,
    "user_value_total": 80.0,
    "user_top_recommendations": ["p-2", "p-3"],
    "recommender_model_version": "pop-1",
}
EVENT: dict[str, dict[str, Any]] = {
    "review": {
        **USER,
        "review_score": 0.6,
        "review_label": "positive",
        "review_confidence": 0.9,
        "review_rating": 5,
        "review_text": "Works well",
        "review_lang": "en",
        "review_aspects": ["battery", "screen"],
        "review_negative_aspects": [],
        "sentiment_model_version": "sent-1",
    },
    "click": {**USER, "click_action": "view", "session_id": "s-1"},
    "sale": {
        **USER,
        "sale_quantity": 1,
        "sale_price": 20.0,
        "sale_amount": 20.0,
        "order_id": "o-1",
    },
    "product": {},
    "tick": {},
}


def make_facts(
    trigger: str, event_id: str = "e-1", ts: float = T0, **overrides: Any
) -> dict[str, Any]:
    """Facts of a quiet product on ``trigger``, with ``overrides`` applied."""
    return {"event_id": event_id, "ts": ts, **PRODUCT, **EVENT[trigger], **overrides}


#: A minimal valid rule, for tests to vary.
GOOD_RULE = """\
- id: good
  description: a valid rule
  version: 1
  when: views_1h > 100
  then:
    action: review_price
"""
