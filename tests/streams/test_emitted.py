"""The keys published decisions leave, and their bound (no broker here)."""

from __future__ import annotations

import orjson

from rules import DEFAULT_RULES, load_rules
from rules.engine import cooldown_key, dedup_key
from streams.emitted import EmittedDecisions, keys_of
from streams.settings import Settings


def test_keys_are_those_the_rules_engine_writes() -> None:
    rule = next(r for r in load_rules(DEFAULT_RULES).rules if r.cooldown)
    record = {
        "decision_id": "abc",
        "rule_id": rule.id,
        "subject_type": rule.subject,
        "subject_id": "s1",
        "trigger_ts": 12,
    }
    assert keys_of(record) == [(dedup_key("abc"), 12.0), (cooldown_key(rule, "s1"), 12.0)]


def test_newest_time_wins_and_the_oldest_keys_go_first() -> None:
    emitted = EmittedDecisions(Settings(), "127.0.0.1:1", limit=3)
    for i, ts in enumerate([5, 3, 9]):
        emitted.learn(
            orjson.dumps(
                {
                    "decision_id": f"d{i}",
                    "rule_id": "r",
                    "subject_type": "user",
                    "subject_id": "u",
                    "trigger_ts": ts,
                }
            )
        )
    assert emitted.get("c:r|user|u") == 9, "a cooldown runs from the latest decision"
    assert emitted.get("d:d0") is None, "three keys kept: the oldest dedup key went"
    assert (emitted.get("d:d1"), emitted.get("d:d2")) == (3, 9)
    for bad in (b"{", b"[1]", b'{"decision_id": "x"}', None):
        emitted.learn(bad)
    assert (emitted.unreadable, emitted.read_count) == (4, 3)
