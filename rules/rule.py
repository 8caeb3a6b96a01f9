"""One checked, compiled rule, as the engine runs it.

>>> parse_duration("90s"), parse_duration("15m"), parse_duration("1.5h"), parse_duration("2d"), parse_duration(30)
(90.0, 900.0, 5400.0, 172800.0, 30.0)
>>> parse_duration("soon")
Traceback (most recent call last):
ValueError: a duration is a number of seconds or text like '90s', '15m', '1h', '7d', got 'soon'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rules.expr import Expression
from rules.templates import Template

#: Subject type -> the fact that holds the subject's id.
SUBJECTS: dict[str, str] = {"product": "product_id", "user": "user_id", "review": "event_id"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


def parse_duration(value: Any) -> float:
    """Seconds from a number of seconds or text like ``'90s'``, ``'15m'``, ``'1h'``, ``'7d'``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"a duration is a number of seconds or text like '90s', '15m', '1h', '7d', got {value!r}"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """A rule from a rule file, checked and compiled (see ``docs/rules.md`` for the format)."""

    id: str
    version: int
    description: str
    #: The author's ``when`` text.
    when: str
    #: ``when`` and the ``min_evidence`` thresholds, compiled into one condition.
    condition: Expression
    triggers: tuple[str, ...]
    subject: str
    action: str
    params: Mapping[str, Template]
    reason: Template
    priority: int
    #: Seconds after a decision during which the rule stays silent for the same subject.
    cooldown: float
    #: Seconds of the event-time window the rule fires at most once in (``None``: once per event).
    window: float | None
    min_evidence: Mapping[str, float]
    #: Facts copied into a decision's evidence, in order.
    evidence: tuple[str, ...]
    #: Models whose outputs the rule reads (their versions go into decisions).
    models: tuple[str, ...]
    enabled: bool
    owner: str | None
    labels: tuple[str, ...]
    file: str
    line: int

    @property
    def subject_fact(self) -> str:
        """The fact holding this rule's subject id."""
        return SUBJECTS[self.subject]

    def summary(self) -> dict[str, Any]:
        """A JSON-able description, for ``pulse rules list`` and reports."""
        return {
            "id": self.id,
            "version": self.version,
            "description": self.description,
            "enabled": self.enabled,
            "triggers": list(self.triggers),
            "subject": self.subject,
            "action": self.action,
            "priority": self.priority,
            "cooldown_s": self.cooldown,
            "window_s": self.window,
            "owner": self.owner,
            "labels": list(self.labels),
            "file": self.file,
            "line": self.line,
        }
