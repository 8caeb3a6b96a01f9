"""Rule files with mistakes: each rejected with file, line, rule id and a readable reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rules import RuleError, RuleLoadError, RuleSyntaxError, RuleValidationError, check, load_rules
from tests.rules.helpers import GOOD_RULE


def bad_rule(body: str, rule_id: str = "bad") -> str:
    """A file with a valid rule first, then rule ``rule_id`` with ``body`` (its fields after id)."""
    return GOOD_RULE + f"- id: {rule_id}\n" + body


BASE = """\
  description: a rule with a mistake
  version: 1
"""
THEN = """\
  then:
    action: alert
    params:
      channel: ops
"""

#: (name, file text, marker on the line the error must point at, error class, words in the reason)
CASES: list[tuple[str, str, str, type[RuleError], str]] = [
    (
        "yaml_syntax",
        bad_rule(BASE + "  when: [views_1h > 1\n" + THEN),
        "  then:",
        RuleSyntaxError,
        "YAML syntax error",
    ),
    (
        "yaml_tab",
        bad_rule(BASE + "  when: views_1h > 1\n\tthen: x\n"),
        "\tthen",
        RuleSyntaxError,
        "YAML syntax error",
    ),
    (
        "unknown_fact",
        bad_rule(BASE + "  when: revew_score < -0.5\n" + THEN),
        "  when:",
        RuleValidationError,
        "unknown fact 'revew_score' (did you mean 'review_score'?)",
    ),
    (
        "str_vs_number",
        bad_rule(BASE + "  when: click_action > 3\n" + THEN),
        "  when:",
        RuleValidationError,
        "type error: '>' compares numbers, got a text and a number",
    ),
    (
        "number_vs_str",
        bad_rule(BASE + "  when: views_1h == 'many'\n" + THEN),
        "  when:",
        RuleValidationError,
        "cannot compare a number and a text",
    ),
    (
        "not_a_condition",
        bad_rule(BASE + "  when: views_1h * 2\n" + THEN),
        "  when:",
        RuleValidationError,
        "must give a true/false",
    ),
    (
        "truthy_number",
        bad_rule(BASE + "  when: views_1h and orders_1h\n" + THEN),
        "  when:",
        RuleValidationError,
        "'and' needs true/false operands",
    ),
    (
        "arith_on_text",
        bad_rule(BASE + "  when: review_text + 1 > 2\n" + THEN),
        "  when:",
        RuleValidationError,
        "'+' needs numbers",
    ),
    (
        "unknown_action",
        bad_rule(BASE + "  when: views_1h > 1\n  then:\n    action: alrt\n"),
        "    action: alrt",
        RuleValidationError,
        "unknown action 'alrt' (did you mean 'alert'?)",
    ),
    (
        "attribute",
        bad_rule(BASE + "  when: review_text.upper() == 'X'\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "attribute access",
    ),
    (
        "dunder_attribute",
        bad_rule(BASE + "  when: views_1h.__class__ == 1\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "attribute access",
    ),
    (
        "dunder_name",
        bad_rule(BASE + "  when: __builtins__ == 1\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "dunder names",
    ),
    (
        "dunder_call",
        bad_rule(BASE + "  when: __import__('os') == 1\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "dunder names",
    ),
    (
        "call_open",
        bad_rule(BASE + "  when: open('/etc/passwd') == 'x'\n" + THEN),
        "  when:",
        RuleValidationError,
        "unknown function 'open'",
    ),
    (
        "call_eval",
        bad_rule(BASE + "  when: eval('1') == 1\n" + THEN),
        "  when:",
        RuleValidationError,
        "unknown function 'eval'",
    ),
    (
        "keyword_args",
        bad_rule(BASE + "  when: round(views_1h, ndigits=1) > 1\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "positional arguments only",
    ),
    (
        "lambda",
        bad_rule(BASE + "  when: '(lambda: 1)() == 1'\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "lambda",
    ),
    (
        "comprehension",
        bad_rule(BASE + "  when: len([a for a in review_aspects]) > 1\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "comprehensions",
    ),
    (
        "generator",
        bad_rule(BASE + "  when: max(1, *(x for x in review_aspects)) > 1\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "positional arguments only",
    ),
    (
        "subscript",
        bad_rule(BASE + "  when: review_aspects[0] == 'battery'\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "subscripts",
    ),
    (
        "walrus",
        bad_rule(BASE + "  when: (x := views_1h) > 1\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "assignment",
    ),
    (
        "power",
        bad_rule(BASE + "  when: views_1h ** 99999 > 1\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "'**' is not allowed",
    ),
    (
        "is_none",
        bad_rule(BASE + "  when: views_1h is None\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "'is' is not allowed",
    ),
    (
        "fstring",
        bad_rule(BASE + "  when: f'{views_1h}' == '1'\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "f-strings",
    ),
    (
        "condition_syntax",
        bad_rule(BASE + "  when: views_1h >\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "invalid syntax",
    ),
    (
        "statement",
        bad_rule(BASE + "  when: import os\n" + THEN),
        "  when:",
        RuleSyntaxError,
        "invalid syntax",
    ),
    (
        "block_when_line",
        bad_rule(BASE + "  when: |\n    views_1h > 1\n    and orders_1h.real > 0\n" + THEN),
        "and orders_1h.real",
        RuleSyntaxError,
        "attribute access",
    ),
    (
        "missing_when",
        bad_rule(BASE + THEN),
        "- id: bad",
        RuleValidationError,
        "missing required field 'when'",
    ),
    (
        "missing_id",
        GOOD_RULE + "- description: x\n  version: 1\n  when: views_1h > 1\n" + THEN,
        "- description: x",
        RuleValidationError,
        "missing required field 'id'",
    ),
    (
        "unknown_field",
        bad_rule(BASE + "  when: views_1h > 1\n  prority: 3\n" + THEN),
        "  prority",
        RuleValidationError,
        "unknown field 'prority' (did you mean 'priority'?)",
    ),
    (
        "duplicate_key",
        bad_rule(BASE + "  when: views_1h > 1\n  when: views_1h > 2\n" + THEN),
        "  when: views_1h > 2",
        RuleValidationError,
        "duplicate key 'when' (first at line",
    ),
    (
        "version_text",
        GOOD_RULE + "- id: bad\n  description: d\n  version: one\n  when: views_1h > 1\n" + THEN,
        "  version: one",
        RuleValidationError,
        "version must be an integer",
    ),
    (
        "priority_range",
        bad_rule(BASE + "  when: views_1h > 1\n  priority: 101\n" + THEN),
        "  priority: 101",
        RuleValidationError,
        "priority must be an integer from 0 to 100",
    ),
    (
        "bad_duration",
        bad_rule(BASE + "  when: views_1h > 1\n  cooldown: soon\n" + THEN),
        "  cooldown: soon",
        RuleValidationError,
        "cooldown: a duration is",
    ),
    (
        "enabled_text",
        bad_rule(BASE + "  when: views_1h > 1\n  enabled: maybe\n" + THEN),
        "  enabled: maybe",
        RuleValidationError,
        "enabled must be true or false",
    ),
    (
        "unknown_param",
        bad_rule(
            BASE
            + "  when: views_1h > 1\n  then:\n    action: alert\n    params:\n      channel: ops\n      colour: red\n"
        ),
        "      colour",
        RuleValidationError,
        "action 'alert' has no param 'colour'",
    ),
    (
        "missing_param",
        bad_rule(BASE + "  when: views_1h > 1\n  then:\n    action: restock\n"),
        "    action: restock",
        RuleValidationError,
        "action 'restock' needs param 'quantity'",
    ),
    (
        "param_type",
        bad_rule(
            BASE
            + "  when: views_1h > 1\n  then:\n    action: restock\n    params:\n      quantity: lots\n"
        ),
        "      quantity: lots",
        RuleValidationError,
        "param 'quantity' of 'restock' must be a number",
    ),
    (
        "param_template_fact",
        bad_rule(
            BASE
            + "  when: views_1h > 1\n  then:\n    action: restock\n    params:\n      quantity: '{unit_24h}'\n"
        ),
        "      quantity:",
        RuleValidationError,
        "unknown fact 'unit_24h'",
    ),
    (
        "reason_template",
        bad_rule(BASE + "  when: views_1h > 1\n  reason: 'score {review_score:.2f'\n" + THEN),
        "  reason:",
        RuleSyntaxError,
        "never closed",
    ),
    (
        "reason_spec",
        bad_rule(BASE + "  when: views_1h > 1\n  reason: 'views {views_1h:%Y}'\n" + THEN),
        "  reason:",
        RuleValidationError,
        "format '%Y' does not fit",
    ),
    (
        "fact_not_on_trigger",
        bad_rule(BASE + "  triggers: tick\n  when: review_score < 0\n" + THEN),
        "  triggers: tick",
        RuleValidationError,
        "fact 'review_score' does not exist on trigger 'tick'",
    ),
    (
        "facts_never_together",
        bad_rule(BASE + "  when: review_score < 0 and click_action == 'view'\n" + THEN),
        "  when:",
        RuleValidationError,
        "no trigger has all its facts",
    ),
    (
        "unknown_trigger",
        bad_rule(BASE + "  triggers: [review, clik]\n  when: views_1h > 1\n" + THEN),
        "clik]",
        RuleValidationError,
        "unknown trigger 'clik' (did you mean 'click'?)",
    ),
    (
        "user_subject_on_tick",
        bad_rule(BASE + "  triggers: tick\n  subject: user\n  when: views_1h > 1\n" + THEN),
        "  triggers: tick",
        RuleValidationError,
        "subject 'user' needs fact 'user_id', which does not exist on trigger 'tick'",
    ),
    (
        "min_evidence_text_fact",
        bad_rule(BASE + "  when: views_1h > 1\n  min_evidence:\n    review_text: 3\n" + THEN),
        "    review_text: 3",
        RuleValidationError,
        "'review_text' is not a number fact",
    ),
    (
        "evidence_unknown",
        bad_rule(BASE + "  when: views_1h > 1\n  evidence: [views_2h]\n" + THEN),
        "  evidence:",
        RuleValidationError,
        "evidence: unknown fact 'views_2h'",
    ),
    (
        "bad_id",
        GOOD_RULE + "- id: 'no spaces please'\n" + BASE + "  when: views_1h > 1\n" + THEN,
        "- id: 'no spaces",
        RuleValidationError,
        "id must be letters",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "marker", "error", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_mistake_is_rejected_with_file_line_rule_and_reason(
    write_rules: Callable[..., Path],
    name: str,
    text: str,
    marker: str,
    error: type[RuleError],
    words: str,
) -> None:
    path = write_rules(text)
    skip = GOOD_RULE.count("\n")
    line = next(i for i, row in enumerate(text.splitlines()[skip:], skip + 1) if marker in row)
    with pytest.raises(error) as caught:
        load_rules(path)
    exc = caught.value
    assert (exc.file, exc.line) == (str(path), line), str(exc)
    expected_id = {"missing_id": None, "bad_id": "no spaces please"}.get(name, "bad")
    assert exc.rule_id == expected_id, str(exc)
    assert words in exc.reason
    assert str(exc).startswith(f"{path}:{line}:")


def test_duplicate_ids_across_files_name_the_first(write_rules: Callable[..., Path]) -> None:
    first = write_rules(GOOD_RULE, "a.yaml")
    second = write_rules("# again\n" + GOOD_RULE, "b.yaml")
    with pytest.raises(RuleValidationError) as caught:
        load_rules(first.parent)
    assert (caught.value.file, caught.value.line, caught.value.rule_id) == (str(second), 2, "good")
    assert f"duplicate rule id (first defined at {first}:1)" in str(caught.value)


def test_duplicate_ids_in_one_file(write_rules: Callable[..., Path]) -> None:
    path = write_rules(GOOD_RULE + GOOD_RULE)
    with pytest.raises(RuleValidationError, match=r"rules.yaml:7: rule 'good': duplicate rule id"):
        load_rules(path)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "holds no rules"),
        ("rules: []\n", "holds no rules"),
        ("id: x\n", "a rule file is a list"),
        ("- 3\n", "expected a mapping"),
    ],
)
def test_malformed_files(write_rules: Callable[..., Path], text: str, words: str) -> None:
    with pytest.raises(RuleValidationError, match=words):
        load_rules(write_rules(text))


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(RuleLoadError, match="no such rule file or folder"):
        load_rules(tmp_path / "nope")
    with pytest.raises(RuleLoadError, match="no rule files"):
        load_rules(tmp_path)


def test_check_reports_every_error_not_just_the_first(write_rules: Callable[..., Path]) -> None:
    text = GOOD_RULE + (
        "- id: a\n"
        + BASE
        + "  when: revew_score < 0\n"
        + THEN
        + "- id: b\n"
        + BASE
        + "  when: views_1h > 1\n  then:\n    action: nope\n"
        + "- id: good\n"
        + BASE
        + "  when: views_1h > 1\n"
        + THEN
    )
    report = check(write_rules(text))
    assert not report.ok
    assert [e.split(": ", 2)[1] for e in report.errors] == ["rule 'a'", "rule 'b'", "rule 'good'"]
    assert [r["id"] for r in report.rules] == ["good"]
    assert "3 error(s)" in report.to_text()
