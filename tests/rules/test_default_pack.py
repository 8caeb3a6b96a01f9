"""Every default rule fires on facts that should trigger it and stays silent on those that should not."""

from __future__ import annotations

from typing import Any

import pytest

from rules import MemoryStore, RuleSet
from tests.rules.helpers import EVENT, make_facts

#: (rule id, trigger, overrides): facts on which the rule must fire.
FIRES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "escalate_angry_review",
        "review",
        {"review_score": -0.85, "review_label": "negative", "review_rating": 1},
    ),
    (
        "escalate_angry_review",
        "review",
        {"review_score": -0.7, "review_label": "negative", "review_rating": None},
    ),
    ("alert_sentiment_drop", "review", {"sentiment_avg_1h": -0.3, "negative_share_1h": 0.7}),
    ("alert_sentiment_drop", "tick", {"sentiment_avg_1h": -0.3, "negative_share_1h": 0.7}),
    ("alert_aspect_complaints", "review", {"aspect_top_negative_1h": 8}),
    (
        "alert_aspect_complaints",
        "tick",
        {"aspect_top_negative_1h": 9, "aspect_top_negative_hourly_24h": 2.5},
    ),
    ("restock_low_stock", "sale", {"stock": 100}),
    ("restock_low_stock", "product", {"stock": 0, "lead_time_days": 3.0}),
    ("restock_low_stock", "tick", {"stock": 150}),
    ("promote_trending_product", "click", {"views_1h": 150, "views_24h": 600}),
    ("promote_trending_product", "tick", {"views_1h": 100, "views_24h": 800}),
    ("review_price_low_conversion", "click", {"views_24h": 800, "conversion_24h": 0.002}),
    ("review_price_low_conversion", "tick", {"views_24h": 500, "conversion_24h": 0.0}),
    ("investigate_sales_anomaly", "sale", {"anomaly_score": 0.95}),
    ("win_back_hesitant_user", "click", {"user_product_views": 3}),
    (
        "win_back_hesitant_user",
        "click",
        {"user_product_views": 7, "user_top_recommendations": None},
    ),
]

#: (rule id, trigger, overrides): close calls and missing facts, on which the rule must stay silent.
SILENT: list[tuple[str, str, dict[str, Any]]] = [
    (
        "escalate_angry_review",
        "review",
        {"review_score": -0.85, "review_label": "negative", "review_rating": 4},
    ),
    (
        "escalate_angry_review",
        "review",
        {"review_score": -0.5, "review_label": "negative", "review_rating": 1},
    ),
    (
        "escalate_angry_review",
        "review",
        {"review_score": -0.85, "review_label": "neutral", "review_rating": 1},
    ),
    (
        "escalate_angry_review",
        "review",
        {"review_score": None, "review_label": "negative", "review_rating": 1},
    ),
    ("alert_sentiment_drop", "review", {"sentiment_avg_1h": 0.1, "negative_share_1h": 0.7}),
    ("alert_sentiment_drop", "review", {"sentiment_avg_1h": -0.3, "negative_share_1h": 0.4}),
    (
        "alert_sentiment_drop",
        "tick",
        {"sentiment_avg_1h": -0.3, "negative_share_1h": 0.7, "sentiment_count_1h": 4},
    ),
    (
        "alert_sentiment_drop",
        "tick",
        {"sentiment_avg_1h": -0.3, "negative_share_1h": 0.7, "sentiment_count_24h": 10},
    ),
    ("alert_sentiment_drop", "tick", {"sentiment_avg_1h": None, "negative_share_1h": None}),
    ("alert_aspect_complaints", "review", {"aspect_top_negative_1h": 4}),
    (
        "alert_aspect_complaints",
        "review",
        {"aspect_top_negative_1h": 5, "aspect_top_negative_hourly_24h": 2.0},
    ),
    ("alert_aspect_complaints", "review", {"aspect_top_negative_1h": 8, "aspect_top_negative": ""}),
    ("alert_aspect_complaints", "tick", {"aspect_top_negative_1h": 8, "aspect_top_negative": None}),
    ("restock_low_stock", "sale", {"stock": 200}),
    ("restock_low_stock", "sale", {"stock": 100, "orders_24h": 2}),
    ("restock_low_stock", "product", {"stock": 100, "lead_time_days": None}),
    ("restock_low_stock", "tick", {"stock": None}),
    ("promote_trending_product", "click", {"views_1h": 90, "views_24h": 600}),
    ("promote_trending_product", "click", {"views_1h": 150, "views_24h": 1800}),
    (
        "promote_trending_product",
        "click",
        {"views_1h": 150, "views_24h": 600, "sentiment_avg_24h": 0.2},
    ),
    (
        "promote_trending_product",
        "tick",
        {"views_1h": 150, "views_24h": 600, "sentiment_count_24h": 3},
    ),
    ("review_price_low_conversion", "click", {"views_24h": 450, "conversion_24h": 0.002}),
    ("review_price_low_conversion", "click", {"views_24h": 800, "conversion_24h": 0.01}),
    ("review_price_low_conversion", "tick", {"views_24h": 800, "conversion_24h": None}),
    ("investigate_sales_anomaly", "sale", {"anomaly_score": 0.85}),
    ("investigate_sales_anomaly", "sale", {"anomaly_score": 0.95, "orders_total": 30}),
    ("investigate_sales_anomaly", "sale", {"anomaly_score": None}),
    ("win_back_hesitant_user", "click", {"user_product_views": 2}),
    ("win_back_hesitant_user", "click", {"user_product_views": 5, "user_product_orders": 1}),
    ("win_back_hesitant_user", "click", {"user_product_views": 5, "click_action": "add_to_cart"}),
    ("win_back_hesitant_user", "click", {"user_product_views": 5, "user_id": None}),
]


def _fired(rules: RuleSet, trigger: str, overrides: dict[str, Any]) -> list[str]:
    facts = make_facts(trigger, **overrides)
    return [d.rule_id for d in rules.evaluate(trigger, facts, MemoryStore(), now=facts["ts"])]


@pytest.mark.parametrize("trigger", sorted(EVENT))
def test_a_quiet_product_fires_nothing(default_rules: RuleSet, trigger: str) -> None:
    assert _fired(default_rules, trigger, {}) == []


@pytest.mark.parametrize(("rule_id", "trigger", "overrides"), FIRES)
def test_rule_fires(
    default_rules: RuleSet, rule_id: str, trigger: str, overrides: dict[str, Any]
) -> None:
    assert _fired(default_rules, trigger, overrides) == [rule_id]


@pytest.mark.parametrize(("rule_id", "trigger", "overrides"), SILENT)
def test_rule_stays_silent(
    default_rules: RuleSet, rule_id: str, trigger: str, overrides: dict[str, Any]
) -> None:
    assert rule_id in {r.id for r in default_rules.rules_for(trigger)}
    assert rule_id not in _fired(default_rules, trigger, overrides)


def test_every_default_rule_is_tested_both_ways(default_rules: RuleSet) -> None:
    ids = {rule.id for rule in default_rules.rules}
    assert {case[0] for case in FIRES} == ids
    assert {case[0] for case in SILENT} == ids


def test_rules_are_not_evaluated_on_triggers_they_do_not_need(default_rules: RuleSet) -> None:
    angry = {"review_score": -0.9, "review_label": "negative", "review_rating": 1}
    assert _fired(default_rules, "click", angry) == []
    assert _fired(default_rules, "tick", {"anomaly_score": 0.99}) == []


def test_angry_review_decision_carries_the_review_and_recent_sentiment(
    default_rules: RuleSet,
) -> None:
    facts = make_facts(
        "review",
        event_id="r-9",
        review_score=-0.9,
        review_label="negative",
        review_rating=1,
        review_text="Broke on day one",
        sentiment_avg_1h=-0.2,
    )
    (decision,) = default_rules.evaluate("review", facts, MemoryStore(), now=facts["ts"] + 2)
    assert (decision.subject_type, decision.subject_id, decision.action) == (
        "review",
        "r-9",
        "escalate_to_support",
    )
    assert decision.params == {"queue": "reviews", "review_text": "Broke on day one"}
    assert decision.evidence["sentiment_avg_24h"] == 0.45
    assert decision.evidence["trigger_event_id"] == "r-9"
    assert decision.model_versions == {"sentiment": "sent-1"}
    assert "sentiment -0.90, rating 1" in decision.reason and "+0.45 over 24 h" in decision.reason


def test_win_back_decision_carries_the_users_recommendations(default_rules: RuleSet) -> None:
    facts = make_facts("click", user_product_views=4)
    (decision,) = default_rules.evaluate("click", facts, MemoryStore(), now=facts["ts"])
    assert (decision.subject_type, decision.subject_id) == ("user", "u-1")
    assert decision.params["recommendations"] == ["p-2", "p-3"]
    assert decision.params["product_id"] == "p-1"
    assert decision.model_versions == {"recommender": "pop-1"}


def test_restock_quantity_covers_twice_the_lead_time_demand(default_rules: RuleSet) -> None:
    facts = make_facts("sale", stock=100)
    (decision,) = default_rules.evaluate("sale", facts, MemoryStore(), now=facts["ts"])
    assert decision.params == {"quantity": 2 * 25 * 7 - 100}
    assert decision.reason.startswith("Product p-1 sells 25 units a day and takes 7 days")


def test_aspect_alert_names_the_aspect(default_rules: RuleSet) -> None:
    facts = make_facts("review", aspect_top_negative_1h=8)
    (decision,) = default_rules.evaluate("review", facts, MemoryStore(), now=facts["ts"])
    assert decision.params["topic"] == "battery"
    assert "8 complaints about 'battery'" in decision.reason
