"""Conditions and templates: compiled code agrees with Python; the whitelist holds."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules import FACTS, RuleSyntaxError, RuleValidationError
from rules.expr import MISSING, compile_expression
from rules.templates import compile_template

ALL = frozenset(FACTS)

#: Conditions over three number facts, and the same in plain Python over locals a, b, c.
EXPRESSIONS = [
    ("views_1h > 10 and orders_1h <= 2", "a > 10 and b <= 2"),
    ("views_1h > 10 or not orders_1h == 2", "a > 10 or not b == 2"),
    ("0 < views_1h - orders_1h * 2 <= 50", "0 < a - b * 2 <= 50"),
    ("views_1h / (orders_1h + 1) >= 3.5", "a / (b + 1) >= 3.5"),
    ("abs(views_1h - stock) % 7 != 3", "abs(a - c) % 7 != 3"),
    ("max(views_1h, orders_1h, stock) // 2 > min(views_1h, 4)", "max(a, b, c) // 2 > min(a, 4)"),
    ("round(views_1h / 3, 1) in [1.0, 2.0, 3.3]", "round(a / 3, 1) in [1.0, 2.0, 3.3]"),
    ("-views_1h < -5 and +stock >= 0", "-a < -5 and +c >= 0"),
]
NAMES = {"views_1h": "a", "orders_1h": "b", "stock": "c"}
numbers = st.one_of(st.integers(-100, 100), st.floats(-1e3, 1e3, allow_nan=False), st.none())


def _python(source: str, values: dict[str, Any]) -> bool:
    local = {NAMES[k]: v for k, v in values.items()}
    if any(v is None for v in local.values()):
        return False
    try:
        return bool(eval(source, {"abs": abs, "min": min, "max": max, "round": round}, local))
    except ArithmeticError:
        return False


@pytest.mark.parametrize(("rule", "python"), EXPRESSIONS)
@given(a=numbers, b=numbers, c=numbers)
def test_compiled_condition_agrees_with_python(
    rule: str, python: str, a: Any, b: Any, c: Any
) -> None:
    values = {"views_1h": a, "orders_1h": b, "stock": c}
    condition = compile_expression(rule, ALL, want="bool")
    used = {k: v for k, v in values.items() if k in condition.facts}
    assert condition.function(values) is _python(python, used)


def test_membership_substring_lower_len_and_default() -> None:
    cond = compile_expression(
        "'battery' in review_negative_aspects and 'refund' in lower(review_text)"
        " and len(review_aspects) >= 2 and default(review_rating, 1) <= 2",
        ALL,
        want="bool",
    )
    facts = {
        "review_negative_aspects": ["battery"],
        "review_text": "I want a REFUND",
        "review_aspects": ["battery", "price"],
    }
    assert cond.function(facts) is True
    assert cond.function({**facts, "review_rating": 3}) is False
    assert cond.function({**facts, "review_negative_aspects": []}) is False
    assert cond.facts == {"review_negative_aspects", "review_text", "review_aspects"}
    assert cond.optional == {"review_rating"}
    clicks = compile_expression("click_action not in ('view', 'favorite')", ALL, want="bool")
    assert clicks.function({"click_action": "add_to_cart"}) is True
    assert clicks.function({"click_action": "view"}) is False


def test_a_missing_fact_makes_a_condition_false_even_under_or() -> None:
    cond = compile_expression("views_1h > 100 or orders_1h > 1", ALL, want="bool")
    assert cond.function({"views_1h": 500}) is False
    assert cond.function({"views_1h": 500, "orders_1h": 0}) is True


def test_value_expressions_give_missing_not_false() -> None:
    expr = compile_expression("units_24h * lead_time_days", ALL)
    assert expr.type == "number"
    assert expr.function({"units_24h": 3, "lead_time_days": 2.5}) == 7.5
    assert expr.function({"units_24h": 3}) is MISSING


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("().__class__.__bases__[0].__subclasses__()", RuleSyntaxError, "attribute access"),
        ("review_text.format(x=1) == ''", RuleSyntaxError, "attribute access"),
        ("globals() == 1", RuleValidationError, "unknown function 'globals'"),
        ("getattr(review_text, 'upper') == 1", RuleValidationError, "unknown function 'getattr'"),
        ("{'a': 1} == 1", RuleSyntaxError, "dict literals"),
        ("{1, 2} == 1", RuleSyntaxError, "set literals"),
        ("views_1h if stock else orders_1h", RuleSyntaxError, "conditional expressions"),
        ("b'x' == 1", RuleSyntaxError, "literal b'x'"),
        ("views_1h << 2 > 1", RuleSyntaxError, "LShift"),
        ("~views_1h > 1", RuleSyntaxError, "bitwise"),
        ("'a' * 10**9 == 'b'", RuleSyntaxError, "'**'"),
        ("review_text * 3 == 'x'", RuleValidationError, "'*' needs numbers"),
        ("review_aspects == ['a']", RuleValidationError, "cannot compare"),
        ("views_1h in review_aspects", RuleValidationError, "membership"),
        ("default(views_1h + 1, 0) > 1", RuleValidationError, "default() takes a fact name"),
        ("default(views_1h, 'none') > 1", RuleValidationError, "must be a number"),
        ("len(views_1h) > 1", RuleValidationError, "len(text or list)"),
        ("min(views_1h) > 1", RuleValidationError, "min(number, number, ...)"),
        ("abs > 1", RuleValidationError, "is a function"),
        ("[views_1h] == 1", RuleSyntaxError, "literal lists may only hold literals"),
        ("['a', 1] == 1", RuleValidationError, "only numbers or only texts"),
        ("-" * 60 + "views_1h > 1", RuleSyntaxError, "nested deeper"),
        ("views_1h > " + "1" * 2_000, RuleSyntaxError, "longer than"),
        ("", RuleSyntaxError, "empty"),
        ("views_1h < 1e999", RuleSyntaxError, "too large"),
    ],
)
def test_outside_the_whitelist_is_rejected(text: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=None) as caught:
        compile_expression(text, ALL, want="bool")
    assert words in str(caught.value)


def test_facts_outside_the_available_set_are_rejected() -> None:
    with pytest.raises(RuleValidationError, match="not available on this rule's triggers"):
        compile_expression("review_score < 0", {"views_1h"}, want="bool")


def test_generated_code_has_no_builtins() -> None:
    cond = compile_expression("views_1h > 1", ALL, want="bool")
    assert cond.function.__globals__["__builtins__"] == {}


def test_templates_render_text_and_keep_whole_values() -> None:
    text = compile_template(
        "{{literal}} {product_id}: {conversion_24h:.1%} of {views_24h:,} ({price:.2f})", ALL
    )
    facts = {"product_id": "p", "conversion_24h": 0.0123, "views_24h": 12_345}
    assert text.render(facts) == "{literal} p: 1.2% of 12,345 (n/a)"
    assert text.facts == {"product_id", "conversion_24h", "views_24h", "price"}
    recs = compile_template("{default(user_top_recommendations, [])}", ALL)
    assert recs.type == "list[str]"
    assert recs.render({}) == [] and recs.render({"user_top_recommendations": ("a", "b")}) == [
        "a",
        "b",
    ]
    assert compile_template("{round(units_24h / 7, 1)}", ALL).render({"units_24h": 10}) == 1.4
    assert compile_template("{stock}", ALL).render({}) is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{views_1h", "never closed"),
        ("views}", "single '}'"),
        ("{views_1h:%Y}", "does not fit"),
        ("{os.system}", "attribute"),
        ("{}", "empty"),
        ("{views_1h:999999999}", "widths and precisions"),
        ("{review_score:.100f}", "widths and precisions"),
    ],
)
def test_bad_templates_are_rejected(text: str, words: str) -> None:
    with pytest.raises((RuleSyntaxError, RuleValidationError)) as caught:
        compile_template(text, ALL)
    assert words in str(caught.value)


def test_nan_never_fires() -> None:
    cond = compile_expression("views_1h > 1 or views_1h <= 1", ALL, want="bool")
    assert cond.function({"views_1h": math.nan}) is False
