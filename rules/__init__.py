"""Pulse's rules engine: YAML rules over facts, checked once, compiled, indexed by trigger.

Plain Python: no Faust, no Kafka, nothing from ``streams/``. The format and the
fact catalogue are in ``docs/rules.md``.

>>> rules = load_rules(DEFAULT_RULES)
>>> len(rules) >= 8, sorted({r.action for r in rules.rules})[:2]
(True, ['alert', 'escalate_to_support'])
"""

from __future__ import annotations

from pathlib import Path

from rules.actions import ACTIONS, Action
from rules.engine import DecisionStore, EvalStats, MemoryStore, RuleSet
from rules.exceptions import RuleError, RuleLoadError, RuleSyntaxError, RuleValidationError
from rules.facts import FACTS, TRIGGERS, Fact
from rules.loader import collect_rules, load_rules
from rules.records import DECISION_JSON_SCHEMA, DecisionRecord, decision_id
from rules.registry import ReloadResult, RuleRegistry
from rules.rule import Rule
from rules.tools import CheckReport, TestReport, check, list_rules, run_test

#: The default rule pack shipped with Pulse (a folder of YAML files).
DEFAULT_RULES = Path(__file__).resolve().parent / "default"

__all__ = [
    "ACTIONS",
    "DECISION_JSON_SCHEMA",
    "DEFAULT_RULES",
    "FACTS",
    "TRIGGERS",
    "Action",
    "CheckReport",
    "DecisionRecord",
    "DecisionStore",
    "EvalStats",
    "Fact",
    "MemoryStore",
    "ReloadResult",
    "Rule",
    "RuleError",
    "RuleLoadError",
    "RuleRegistry",
    "RuleSet",
    "RuleSyntaxError",
    "RuleValidationError",
    "TestReport",
    "check",
    "collect_rules",
    "decision_id",
    "list_rules",
    "load_rules",
    "run_test",
]
