"""Decision records: what to do, to what, why, with which evidence; with a deterministic id.

>>> decision_id("angry_review", 1, "review", "r-1", "event:r-1")
'f26beeaa49b9c7cd56d84cb3'
>>> trigger_window(None, 1_700_000_123.0, 3_600.0)
'2023-11-14T22:00:00Z/2023-11-14T23:00:00Z'
>>> trigger_window("r-1", 1_700_000_123.0, None)
'event:r-1'
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

#: Hex digits kept of the SHA-256 of a decision's identity (96 bits).
DECISION_ID_CHARS = 24


def decision_id(
    rule_id: str, rule_version: int, subject_type: str, subject_id: str, window: str
) -> str:
    """A short stable hash of (rule, version, subject, trigger window)."""
    key = "\x1f".join((rule_id, str(rule_version), subject_type, subject_id, window))
    return hashlib.sha256(key.encode()).hexdigest()[:DECISION_ID_CHARS]


def trigger_window(event_id: str | None, ts: float, window: float | None) -> str:
    """The trigger a decision answers: its event (``event:<id>``) or an aligned event-time window.

    A window is ``[floor(ts / w) * w, + w)``, written as an ISO 8601 interval in UTC.
    """
    if window is None:
        return f"event:{event_id}" if event_id is not None else f"ts:{ts!r}"
    start = (ts // window) * window
    return f"{_iso(start)}/{_iso(start + window)}"


def _iso(ts: float) -> str:
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision, as emitted to the decisions topic (keyed by ``subject_id``)."""

    decision_id: str
    #: When Pulse decided (Unix seconds, the ``now`` given to ``evaluate``).
    ts: float
    #: Event time of the trigger (the event's ``ts``; a tick's time).
    trigger_ts: float
    rule_id: str
    rule_version: int
    action: str
    subject_type: str
    subject_id: str
    priority: int
    reason: str
    #: Fact name -> value for the facts the rule read, plus ``trigger_event_id``.
    evidence: dict[str, Any]
    params: dict[str, Any]
    #: Model name -> version, for the models whose outputs the rule read.
    model_versions: dict[str, str | None]
    trigger_window: str
    trigger: str
    #: The triggering event's id (``None`` when the facts carried none).
    trigger_event_id: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict with every field (see :data:`DECISION_JSON_SCHEMA`)."""
        return asdict(self)


_STR, _NUM, _INT = {"type": "string"}, {"type": "number"}, {"type": "integer"}
#: JSON Schema (draft 2020-12) of :meth:`DecisionRecord.to_dict`.
DECISION_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Pulse decision",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "decision_id",
        "ts",
        "trigger_ts",
        "rule_id",
        "rule_version",
        "action",
        "subject_type",
        "subject_id",
        "priority",
        "reason",
        "evidence",
        "params",
        "model_versions",
        "trigger_window",
        "trigger",
        "trigger_event_id",
    ],
    "properties": {
        "decision_id": {**_STR, "description": "sha256(rule, version, subject, window)[:24]"},
        "ts": {**_NUM, "description": "when Pulse decided, Unix seconds"},
        "trigger_ts": {**_NUM, "description": "event time of the trigger, Unix seconds"},
        "rule_id": _STR,
        "rule_version": {**_INT, "minimum": 1},
        "action": {**_STR, "description": "an action from docs/rules.md"},
        "subject_type": {"enum": ["product", "user", "review"]},
        "subject_id": _STR,
        "priority": {**_INT, "minimum": 0, "maximum": 100, "description": "higher is more urgent"},
        "reason": {**_STR, "description": "the rule's reason template, rendered"},
        "evidence": {
            "type": "object",
            "description": "facts the rule read (null when absent), and trigger_event_id",
        },
        "params": {"type": "object", "description": "the action's parameters, rendered"},
        "model_versions": {
            "type": "object",
            "additionalProperties": {"type": ["string", "null"]},
        },
        "trigger_window": {
            **_STR,
            "description": "'event:<event_id>' or an ISO 8601 interval 'start/end' in UTC",
        },
        "trigger": {"enum": ["review", "click", "sale", "product", "tick"]},
        "trigger_event_id": {
            "type": ["string", "null"],
            "description": "the triggering event's id",
        },
    },
}
