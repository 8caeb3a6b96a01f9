"""Authoring tools: check, test with a facts file, list; and the docs stay in step with the code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rules import DEFAULT_RULES, check, list_rules, run_test
from rules.docs import actions_markdown, facts_markdown, functions_markdown
from tests.rules.helpers import T0, make_facts

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_check_the_default_pack() -> None:
    report = check(DEFAULT_RULES)
    assert report.ok and report.errors == ()
    assert len(report.rules) == 8
    assert report.to_text().endswith(f"8 rules OK in {DEFAULT_RULES}")
    assert json.loads(json.dumps(report.to_dict()))["ok"] is True


def test_list_rules() -> None:
    listed = list_rules(DEFAULT_RULES)
    ids = [r["id"] for r in listed]
    assert "escalate_angry_review" in ids and len(ids) == len(set(ids)) == 8
    angry = listed[ids.index("escalate_angry_review")]
    assert (angry["subject"], angry["triggers"], angry["action"]) == (
        "review",
        ["review"],
        "escalate_to_support",
    )


def test_run_test_shows_what_fires_and_why_the_rest_do_not(
    write_rules: Callable[..., Path],
) -> None:
    angry = make_facts("review", review_score=-0.9, review_label="negative", review_rating=1)
    cases = [
        {"name": "angry", "trigger": "review", "facts": angry, "expect": ["escalate_angry_review"]},
        {"name": "again", "trigger": "review", "facts": angry, "expect": []},
        {
            "name": "low stock",
            "trigger": "tick",
            "facts": make_facts("tick", stock=10),
            "now": T0 + 60,
        },
    ]
    facts_file = write_rules(json.dumps(cases), "facts.json")
    report = run_test(DEFAULT_RULES, facts_file)
    assert report.ok, report.to_text()
    first, second, third = report.cases
    assert first.fired == ("escalate_angry_review",)
    assert dict(first.outcomes)["alert_sentiment_drop"] == "condition is false"
    assert (
        dict(second.outcomes)["escalate_angry_review"]
        == "already decided for this trigger (duplicate)"
    )
    assert third.fired == ("restock_low_stock",) and third.decisions[0]["ts"] == T0 + 60
    text = report.to_text()
    assert "case angry (review): fired ['escalate_angry_review']" in text and text.endswith("OK")


def test_run_test_reports_a_failed_expectation(write_rules: Callable[..., Path]) -> None:
    facts_file = write_rules(
        "- trigger: sale\n  expect: [investigate_sales_anomaly]\n  facts:\n    product_id: p\n    ts: 1.7e9\n",
        "facts.yaml",
    )
    report = run_test(DEFAULT_RULES, facts_file)
    assert not report.ok
    assert "FAILED: expected ['investigate_sales_anomaly']" in report.to_text()
    missing = dict(report.cases[0].outcomes)["investigate_sales_anomaly"]
    assert missing == "missing facts: anomaly_score, orders_total"


def test_run_test_rejects_bad_inputs(write_rules: Callable[..., Path], tmp_path: Path) -> None:
    bad_case = write_rules("- trigger: boom\n  facts: {}\n", "facts.yaml")
    assert "trigger must be one of" in run_test(DEFAULT_RULES, bad_case).errors[0]
    assert "cannot read facts file" in run_test(DEFAULT_RULES, tmp_path / "none.yaml").errors[0]
    bad_rules = write_rules("- id: x\n", "bad.yaml")
    assert "missing required field" in run_test(bad_rules, bad_case).errors[0]


def test_docs_list_every_fact_and_action() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    assert facts_markdown() in docs, (
        "regenerate the fact tables in docs/rules.md from rules.tools.facts_markdown()"
    )
    assert actions_markdown() in docs, "regenerate the action table in docs/rules.md"
    assert functions_markdown() in docs, "regenerate the function list in docs/rules.md"
