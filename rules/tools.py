"""Authoring tools as pure functions returning reports; ``pulse rules ...`` prints them.

- :func:`check` (``pulse rules check PATH``): every error in every file, or the rules found.
- :func:`run_test` (``pulse rules test PATH --facts FILE``): which rules fire on each case of
  facts, why the others stay silent, and the decisions they would emit.
- :func:`list_rules` (``pulse rules list``): one summary per rule.

A facts file (YAML or JSON) is a list of cases, each ``{trigger, facts}`` with
optional ``name``, ``now`` (default: the facts' ``ts``) and ``expect`` (the rule
ids that must fire). Cases run in order against one in-memory store, so a file
can show dedup and cooldown.

>>> from rules import DEFAULT_RULES
>>> report = check(DEFAULT_RULES)
>>> report.ok, len(report.rules) >= 8
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rules.engine import MemoryStore, RuleSet
from rules.exceptions import RuleError, RuleLoadError, RuleSyntaxError, RuleValidationError
from rules.facts import TRIGGERS
from rules.loader import collect_rules, load_rules


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The outcome of checking a rule path: summaries of valid rules, and every error."""

    path: str
    rules: tuple[dict[str, Any], ...]
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_text(self) -> str:
        if self.errors:
            return "\n".join([*self.errors, f"{len(self.errors)} error(s) in {self.path}"])
        lines = [
            f"{r['file']}:{r['line']}: {r['id']} v{r['version']} -> {r['action']}"
            for r in self.rules
        ]
        return "\n".join([*lines, f"{len(self.rules)} rules OK in {self.path}"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "rules": list(self.rules),
            "errors": list(self.errors),
        }


def check(path: Path | str) -> CheckReport:
    """Check every rule at ``path``; collects all errors rather than stopping at the first."""
    rules, errors = collect_rules(path)
    return CheckReport(str(path), tuple(r.summary() for r in rules), tuple(str(e) for e in errors))


def list_rules(path: Path | str) -> list[dict[str, Any]]:
    """Summaries of the rules at ``path`` (raises the first error of an invalid set)."""
    return [rule.summary() for rule in load_rules(path).rules]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case of a facts file: each rule's outcome, the decisions, and the expectation."""

    name: str
    trigger: str
    outcomes: tuple[tuple[str, str], ...]
    decisions: tuple[dict[str, Any], ...]
    expected: tuple[str, ...] | None = None

    @property
    def fired(self) -> tuple[str, ...]:
        return tuple(d["rule_id"] for d in self.decisions)

    @property
    def ok(self) -> bool:
        return self.expected is None or sorted(self.expected) == sorted(self.fired)


@dataclass(frozen=True, slots=True)
class TestReport:
    """The outcome of ``pulse rules test``: one :class:`CaseResult` per case, or errors."""

    __test__ = False  # not a pytest test class

    path: str
    facts_file: str
    cases: tuple[CaseResult, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.errors and all(case.ok for case in self.cases)

    def to_text(self) -> str:
        lines = list(self.errors)
        for case in self.cases:
            lines.append(
                f"case {case.name} ({case.trigger}): fired {list(case.fired) or 'nothing'}"
            )
            lines += [f"  {rule_id}: {status}" for rule_id, status in case.outcomes]
            lines += [f"  decision {d}" for d in case.decisions]
            if not case.ok:
                lines.append(f"  FAILED: expected {sorted(case.expected or ())}")
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        cases = [
            {
                "name": c.name,
                "trigger": c.trigger,
                "outcomes": dict(c.outcomes),
                "decisions": list(c.decisions),
                "expected": None if c.expected is None else list(c.expected),
                "ok": c.ok,
            }
            for c in self.cases
        ]
        return {"ok": self.ok, "errors": list(self.errors), "cases": cases}


def run_test(path: Path | str, facts_file: Path | str) -> TestReport:
    """Evaluate the rules at ``path`` on each case of ``facts_file``."""
    try:
        rules = load_rules(path)
        cases = read_cases(Path(facts_file))
    except RuleError as exc:
        return TestReport(str(path), str(facts_file), errors=(str(exc),))
    store = MemoryStore()
    results = tuple(_run_case(rules, store, i, case) for i, case in enumerate(cases, 1))
    return TestReport(str(path), str(facts_file), results)


def _run_case(rules: RuleSet, store: MemoryStore, number: int, case: dict[str, Any]) -> CaseResult:
    facts, trigger = case["facts"], case["trigger"]
    now = float(case.get("now", facts.get("ts") or 0.0))
    explained = rules.explain(trigger, facts, store, now)
    expected = case.get("expect")
    return CaseResult(
        name=str(case.get("name", number)),
        trigger=trigger,
        outcomes=tuple((rule.id, status) for rule, status, _ in explained),
        decisions=tuple(record.to_dict() for _, _, record in explained if record is not None),
        expected=None if expected is None else tuple(expected),
    )


def read_cases(file: Path) -> list[dict[str, Any]]:
    """The cases of a facts file, checked: a list of {trigger, facts[, name, now, expect]}."""
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RuleLoadError(
            f"cannot read facts file: {exc.strerror or exc}", file=str(file)
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise RuleSyntaxError(f"facts file: {exc}", file=str(file), line=line) from None
    cases = data if isinstance(data, list) else [data]
    for number, case in enumerate(cases, 1):
        problem = _case_problem(case)
        if problem:
            raise RuleValidationError(f"case {number}: {problem}", file=str(file))
    return cases


def _case_problem(case: Any) -> str:
    if not isinstance(case, dict) or not isinstance(case.get("facts"), dict):
        return "a case is a mapping with 'trigger' and 'facts' (a mapping of fact: value)"
    if case.get("trigger") not in TRIGGERS:
        return f"trigger must be one of {', '.join(TRIGGERS)}, got {case.get('trigger')!r}"
    unknown = set(case) - {"name", "trigger", "facts", "now", "expect"}
    if unknown:
        return f"unknown keys {sorted(unknown)}; a case has name, trigger, facts, now, expect"
    expect = case.get("expect")
    if expect is not None and not (
        isinstance(expect, list) and all(isinstance(e, str) for e in expect)
    ):
        return "expect must be a list of rule ids"
    return ""
