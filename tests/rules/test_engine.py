"""Evaluation: dedup, cooldown, windows, deterministic ids, missing facts, the trigger index."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from rules import DECISION_JSON_SCHEMA, EvalStats, MemoryStore, RuleSet, decision_id, load_rules
from tests.rules.helpers import T0, make_facts

COOLING = """\
- id: busy
  description: many views
  version: 1
  triggers: [click, tick]
  when: views_1h > 100
  cooldown: 1h
  then: {action: review_price}
- id: windowed
  description: many carts, once an hour
  version: 3
  triggers: tick
  when: carts_1h > 10
  window: 1h
  then: {action: alert, params: {channel: ops}}
- id: every_event
  description: a sale of many units
  version: 1
  triggers: sale
  when: sale_quantity >= 10
  then: {action: investigate, params: {kind: bulk}}
- id: switched_off
  description: disabled
  version: 1
  enabled: false
  triggers: sale
  when: sale_quantity >= 1
  then: {action: investigate, params: {kind: any}}
"""


@pytest.fixture
def rules(write_rules: Callable[..., Path]) -> RuleSet:
    return load_rules(write_rules(COOLING))


def _ids(rules: RuleSet, trigger: str, store: MemoryStore, **overrides: object) -> list[str]:
    facts = make_facts(trigger, **overrides)
    return [d.rule_id for d in rules.evaluate(trigger, facts, store, now=T0 + 1e6)]


def test_same_event_twice_gives_one_decision(default_rules: RuleSet, store: MemoryStore) -> None:
    angry = {"review_score": -0.9, "review_label": "negative", "review_rating": 1}
    assert _ids(default_rules, "review", store, event_id="r-1", **angry) == [
        "escalate_angry_review"
    ]
    assert _ids(default_rules, "review", store, event_id="r-1", **angry) == []
    assert _ids(default_rules, "review", store, event_id="r-2", **angry) == [
        "escalate_angry_review"
    ]


def test_redelivery_after_a_restart_is_deduplicated(default_rules: RuleSet) -> None:
    """A new worker loads the rules again but keeps the store (a changelog-backed table)."""
    table: MemoryStore = MemoryStore()
    facts = make_facts("sale", stock=100)
    first = default_rules.evaluate("sale", facts, table, now=T0)
    restarted = load_rules(default_rules.source)
    assert [d.rule_id for d in first] == ["restock_low_stock"]
    assert restarted.evaluate("sale", facts, MemoryStore(table), now=T0 + 30) == []


def test_cooldown_per_rule_and_subject(rules: RuleSet, store: MemoryStore) -> None:
    assert _ids(rules, "click", store, event_id="a", views_1h=150) == ["busy"]
    later = T0 + 10 * 60
    assert _ids(rules, "click", store, event_id="b", ts=later, views_1h=150) == []
    assert _ids(rules, "click", store, event_id="c", ts=later, views_1h=150, product_id="p-2") == [
        "busy"
    ]
    after = T0 + 3_600
    assert _ids(rules, "click", store, event_id="d", ts=after, views_1h=150) == ["busy"]


def test_window_fires_once_per_window(rules: RuleSet, store: MemoryStore) -> None:
    hour = (T0 // 3_600) * 3_600
    assert _ids(rules, "tick", store, event_id="t1", ts=hour + 60, carts_1h=20) == ["windowed"]
    assert _ids(rules, "tick", store, event_id="t2", ts=hour + 3_000, carts_1h=25) == []
    assert _ids(rules, "tick", store, event_id="t3", ts=hour + 3_600, carts_1h=25) == ["windowed"]


def test_no_window_no_cooldown_fires_on_every_event(rules: RuleSet, store: MemoryStore) -> None:
    for n in range(3):
        assert _ids(rules, "sale", store, event_id=f"s{n}", sale_quantity=12) == ["every_event"]


def test_disabled_rules_are_not_evaluated(rules: RuleSet) -> None:
    assert [r.id for r in rules.rules_for("sale")] == ["every_event"]
    assert rules.get("switched_off") is not None and not rules.get("switched_off").enabled  # type: ignore[union-attr]


def test_decision_ids_are_deterministic_and_tell_triggers_apart(rules: RuleSet) -> None:
    facts = make_facts("tick", carts_1h=20)
    one = rules.evaluate("tick", facts, MemoryStore(), now=T0)
    two = load_rules(rules.source).evaluate("tick", facts, MemoryStore(), now=T0 + 99)
    assert [d.decision_id for d in one] == [d.decision_id for d in two]
    window = one[0].trigger_window
    assert window == "2023-11-14T22:00:00Z/2023-11-14T23:00:00Z"
    assert one[0].decision_id == decision_id("windowed", 3, "product", "p-1", window)
    others = {
        decision_id("windowed", 4, "product", "p-1", window),
        decision_id("windowed", 3, "product", "p-2", window),
        decision_id("windowed", 3, "user", "p-1", window),
        decision_id("windowed", 3, "product", "p-1", "2023-11-14T23:00:00Z/2023-11-15T00:00:00Z"),
        decision_id("other", 3, "product", "p-1", window),
    }
    assert len(others | {one[0].decision_id}) == 6


@pytest.mark.parametrize(
    "overrides",
    [{"views_1h": None}, {"views_1h": "lots"}, {"views_1h": float("nan")}],
    ids=["none", "wrong-type", "nan"],
)
def test_missing_or_bad_facts_never_fire_nor_raise(
    rules: RuleSet, overrides: dict[str, object]
) -> None:
    facts = make_facts("click", **overrides)
    assert rules.evaluate("click", facts, MemoryStore(), now=T0) == []
    del facts["views_1h"]
    assert rules.evaluate("click", facts, MemoryStore(), now=T0) == []


def test_multi_line_condition_with_comments_and_min_evidence(
    write_rules: Callable[..., Path],
) -> None:
    text = """\
- id: r
  description: d
  version: 1
  when: |
    views_1h > 100     # busy
    and orders_1h == 0 # but nobody buys
  min_evidence: {views_24h: 500}
  then: {action: review_price}
"""
    rules = load_rules(write_rules(text))
    fire = make_facts("tick", views_1h=150, orders_1h=0, views_24h=600)
    assert len(rules.evaluate("tick", fire, MemoryStore(), now=T0)) == 1
    for overrides in ({"views_24h": 400}, {"orders_1h": 1}, {"views_24h": None}):
        facts = {**fire, **overrides}
        assert rules.evaluate("tick", facts, MemoryStore(), now=T0) == [], overrides


def test_division_by_zero_is_silent(write_rules: Callable[..., Path]) -> None:
    text = "- id: r\n  description: d\n  version: 1\n  when: orders_1h / views_1h > 0.5\n  then: {action: review_price}\n"
    rules = load_rules(write_rules(text))
    assert rules.evaluate("tick", make_facts("tick", views_1h=0), MemoryStore(), now=T0) == []
    assert len(rules.evaluate("tick", make_facts("tick", views_1h=1), MemoryStore(), now=T0)) == 1


def test_only_rules_indexed_under_the_trigger_run(default_rules: RuleSet) -> None:
    for trigger in ("review", "click", "sale", "product", "tick"):
        stats = EvalStats()
        default_rules.evaluate(trigger, make_facts(trigger), MemoryStore(), now=T0, stats=stats)
        assert stats.evaluated == len(default_rules.rules_for(trigger)) < len(default_rules)


def test_unknown_trigger_is_a_caller_error(default_rules: RuleSet) -> None:
    with pytest.raises(ValueError, match="unknown trigger 'view'"):
        default_rules.evaluate("view", {}, MemoryStore(), now=T0)


def test_stats_count_matches_and_suppressions(rules: RuleSet, store: MemoryStore) -> None:
    stats = EvalStats()
    for event_id in ("a", "a", "b"):
        facts = make_facts("click", event_id=event_id, views_1h=150)
        rules.evaluate("click", facts, store, now=T0, stats=stats)
    assert (stats.evaluated, stats.matched, stats.emitted) == (3, 3, 1)
    assert (stats.duplicates, stats.cooling_down) == (1, 1)


def test_decisions_come_most_urgent_first(default_rules: RuleSet) -> None:
    facts = make_facts(
        "tick",
        stock=10,
        sentiment_avg_1h=-0.3,
        negative_share_1h=0.7,
        views_24h=800,
        conversion_24h=0.001,
    )
    decisions = default_rules.evaluate("tick", facts, MemoryStore(), now=T0)
    assert [d.priority for d in decisions] == sorted((d.priority for d in decisions), reverse=True)
    assert [d.rule_id for d in decisions] == [
        "restock_low_stock",
        "alert_sentiment_drop",
        "review_price_low_conversion",
    ]


def test_record_is_json_and_matches_its_schema(default_rules: RuleSet) -> None:
    facts = make_facts("review", review_score=-0.9, review_label="negative", review_rating=1)
    (decision,) = default_rules.evaluate("review", facts, MemoryStore(), now=T0 + 5)
    data = json.loads(json.dumps(decision.to_dict()))
    assert (
        sorted(data)
        == sorted(DECISION_JSON_SCHEMA["required"])
        == sorted(DECISION_JSON_SCHEMA["properties"])
    )
    json_types = {
        "string": str,
        "number": (int, float),
        "integer": int,
        "object": dict,
        "null": type(None),
    }
    for name, spec in DECISION_JSON_SCHEMA["properties"].items():
        if "type" in spec:
            kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
            assert isinstance(data[name], tuple(json_types[k] for k in kinds)), name
        else:
            assert data[name] in spec["enum"], name
    assert (data["ts"], data["trigger_ts"], data["trigger"]) == (T0 + 5, T0, "review")
    assert data["trigger_event_id"] == data["evidence"]["trigger_event_id"] == "e-1"


def test_deferred_remember_publishes_before_the_store_knows(rules: RuleSet) -> None:
    store = MemoryStore()
    facts = make_facts("click", views_1h=150)
    first = rules.evaluate("click", facts, store, now=T0, remember=False)
    assert [d.rule_id for d in first] == ["busy"] and store == {}
    again = rules.evaluate("click", facts, store, now=T0, remember=False)
    assert [d.decision_id for d in again] == [d.decision_id for d in first]  # not yet remembered
    rules.remember(first, store)
    assert rules.evaluate("click", facts, store, now=T0) == []
    other = make_facts("click", event_id="e-2", ts=T0 + 60, views_1h=150)
    assert rules.evaluate("click", other, store, now=T0) == []  # cooling down


@pytest.mark.parametrize("ts", [None, "soon", float("nan")])
def test_a_trigger_without_a_usable_time_is_dated_now(rules: RuleSet, ts: object) -> None:
    facts = make_facts("sale", sale_quantity=12, ts=ts)
    (decision,) = rules.evaluate("sale", facts, MemoryStore(), now=T0 + 7)
    assert decision.trigger_ts == T0 + 7


def test_subject_missing_means_no_decision(default_rules: RuleSet) -> None:
    facts = make_facts("sale", stock=100, product_id=None)
    assert default_rules.evaluate("sale", facts, MemoryStore(), now=T0) == []


def test_explain_says_why_each_rule_did_or_did_not_fire(
    default_rules: RuleSet, store: MemoryStore
) -> None:
    facts = make_facts("tick", stock=100, sentiment_avg_1h=None)
    first = {
        rule.id: status for rule, status, _ in default_rules.explain("tick", facts, store, now=T0)
    }
    assert first["restock_low_stock"] == "fired"
    assert first["alert_sentiment_drop"] == "missing facts: sentiment_avg_1h"
    assert first["promote_trending_product"] == "condition is false"
    again = {
        rule.id: status for rule, status, _ in default_rules.explain("tick", facts, store, now=T0)
    }
    assert again["restock_low_stock"] == "already decided for this trigger (duplicate)"
