"""A set of rules indexed by trigger, evaluated over facts, with dedup and cooldown in a store.

Only the rules indexed under a trigger run on it. A rule whose condition holds
becomes a decision unless the store has seen the same decision (same rule,
version, subject and trigger window: a redelivered event, a second event in
the window) or the rule is cooling down for that subject. Times used for both
are event times (the trigger's ``ts``), so a replay decides as the first run did.

>>> from rules.loader import load_rules
>>> from rules import DEFAULT_RULES
>>> rules, store = load_rules(DEFAULT_RULES), MemoryStore()
>>> facts = {"event_id": "r-1", "ts": 1.7e9, "product_id": "p", "user_id": "u",
...          "review_score": -0.9, "review_label": "negative", "review_rating": 1}
>>> [d.rule_id for d in rules.evaluate("review", facts, store, now=1.7e9)]
['escalate_angry_review']
>>> rules.evaluate("review", facts, store, now=1.7e9)  # the same event again
[]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from rules.facts import MODEL_VERSION_FACTS, TRIGGERS
from rules.records import DecisionRecord, decision_id, trigger_window
from rules.rule import Rule


class DecisionStore(Protocol):
    """Where dedup and cooldown state lives (a Faust table with a changelog, in ``streams/``).

    Keys are short strings; values are event times in Unix seconds. A store may
    drop a key once it is older than :attr:`RuleSet.retention_s`.
    """

    def get(self, key: str) -> float | None: ...

    def put(self, key: str, value: float) -> None: ...


class MemoryStore(dict[str, float]):
    """A :class:`DecisionStore` in a dict, for tests and ``pulse rules test``."""

    def put(self, key: str, value: float) -> None:
        self[key] = value


@dataclass(slots=True)
class EvalStats:
    """Counters a caller may pass to ``evaluate`` and read (e.g. into Prometheus counters)."""

    evaluated: int = 0
    matched: int = 0
    emitted: int = 0
    duplicates: int = 0
    cooling_down: int = 0


def dedup_key(decision: str) -> str:
    return f"d:{decision}"


def cooldown_key(rule: Rule, subject_id: str) -> str:
    return subject_key(rule.id, rule.subject, subject_id)


def subject_key(rule_id: str, subject_type: str, subject_id: str) -> str:
    """The cooldown key of a rule's decisions on one subject."""
    return f"c:{rule_id}|{subject_type}|{subject_id}"


class RuleSet:
    """Checked rules, indexed by trigger; immutable once built (swap a whole set to reload)."""

    def __init__(self, rules: Iterable[Rule], source: str = "") -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.source = source
        self._by_id = {rule.id: rule for rule in self.rules}
        ordered = sorted((r for r in self.rules if r.enabled), key=lambda r: (-r.priority, r.id))
        self._index: dict[str, tuple[tuple[Any, Rule], ...]] = {
            trigger: tuple((r.condition.function, r) for r in ordered if trigger in r.triggers)
            for trigger in TRIGGERS
        }
        spans = [max(r.cooldown, r.window or 0.0) for r in self.rules]
        #: Seconds after which a dedup/cooldown key can no longer matter (at least a day).
        self.retention_s: float = max([86_400.0, *spans])

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"RuleSet({len(self.rules)} rules from {self.source or '<memory>'})"

    def get(self, rule_id: str) -> Rule | None:
        """The rule with this id, or None."""
        return self._by_id.get(rule_id)

    def rules_for(self, trigger: str) -> tuple[Rule, ...]:
        """The enabled rules evaluated on ``trigger``, most urgent first."""
        return tuple(rule for _, rule in self._pairs(trigger))

    def _pairs(self, trigger: str) -> tuple[tuple[Any, Rule], ...]:
        try:
            return self._index[trigger]
        except KeyError:
            raise ValueError(
                f"unknown trigger {trigger!r}; triggers: {', '.join(TRIGGERS)}"
            ) from None

    def evaluate(
        self,
        trigger: str,
        facts: Mapping[str, Any],
        store: DecisionStore,
        now: float,
        stats: EvalStats | None = None,
        remember: bool = True,
    ) -> list[DecisionRecord]:
        """The decisions ``facts`` call for on ``trigger``, most urgent first.

        With ``remember`` (the default) their dedup and cooldown keys go into
        ``store`` at once. A caller that wants a decision never lost, only
        possibly repeated, passes ``remember=False``, publishes, then calls
        :meth:`remember` before evaluating the next event.
        """
        pairs = self._pairs(trigger)
        fired = [rule for condition, rule in pairs if condition(facts)]
        if stats is not None:
            stats.evaluated += len(pairs)
            stats.matched += len(fired)
        if not fired:
            return []
        out = []
        for rule in fired:
            record = self._decide(rule, trigger, facts, store, now, stats, remember)
            if record is not None:
                out.append(record)
        return out

    def _decide(
        self,
        rule: Rule,
        trigger: str,
        facts: Mapping[str, Any],
        store: DecisionStore,
        now: float,
        stats: EvalStats | None,
        remember: bool = True,
    ) -> DecisionRecord | None:
        subject_id = facts.get(rule.subject_fact)
        if subject_id is None:
            return None
        subject_id, ts = str(subject_id), _event_time(facts.get("ts"), now)
        window = trigger_window(facts.get("event_id"), ts, rule.window)
        decision = decision_id(rule.id, rule.version, rule.subject, subject_id, window)
        blocked = _blocked(rule, store, decision, subject_id, ts)
        if blocked:
            if stats is not None:
                setattr(stats, blocked, getattr(stats, blocked) + 1)
            return None
        if remember:
            _remember(rule, store, decision, subject_id, ts)
        if stats is not None:
            stats.emitted += 1
        return build_record(rule, trigger, facts, decision, subject_id, window, ts, now)

    def remember(self, decisions: Iterable[DecisionRecord], store: DecisionStore) -> None:
        """Write the dedup and cooldown keys of ``decisions`` (made with ``remember=False``)."""
        for d in decisions:
            rule = self._by_id.get(d.rule_id)
            if rule is not None:
                _remember(rule, store, d.decision_id, d.subject_id, d.trigger_ts)

    def explain(
        self, trigger: str, facts: Mapping[str, Any], store: DecisionStore, now: float
    ) -> list[tuple[Rule, str, DecisionRecord | None]]:
        """Each rule on ``trigger`` with what it did: fired, or why not (for authoring tools)."""
        out: list[tuple[Rule, str, DecisionRecord | None]] = []
        for condition, rule in self._pairs(trigger):
            missing = sorted(f for f in rule.condition.facts if facts.get(f) is None)
            if missing:
                out.append((rule, "missing facts: " + ", ".join(missing), None))
            elif not condition(facts):
                out.append((rule, "condition is false", None))
            else:
                stats = EvalStats()
                record = self._decide(rule, trigger, facts, store, now, stats)
                status = "fired" if record else _why_silent(stats, rule)
                out.append((rule, status, record))
        return out


def _event_time(value: Any, now: float) -> float:
    """The trigger's event time: its ``ts`` fact when it is a finite number, else ``now``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return now


def _remember(rule: Rule, store: DecisionStore, decision: str, subject_id: str, ts: float) -> None:
    store.put(dedup_key(decision), ts)
    if rule.cooldown:
        store.put(cooldown_key(rule, subject_id), ts)


def _blocked(rule: Rule, store: DecisionStore, decision: str, subject_id: str, ts: float) -> str:
    """'' when the rule may fire; else the EvalStats counter that says why not."""
    if store.get(dedup_key(decision)) is not None:
        return "duplicates"
    if rule.cooldown:
        last = store.get(cooldown_key(rule, subject_id))
        if last is not None and ts - last < rule.cooldown:
            return "cooling_down"
    return ""


def _why_silent(stats: EvalStats, rule: Rule) -> str:
    if stats.duplicates:
        return "already decided for this trigger (duplicate)"
    if stats.cooling_down:
        return f"cooling down (cooldown {rule.cooldown:g} s for this {rule.subject})"
    return f"no subject: fact {rule.subject_fact!r} is missing"


def build_record(
    rule: Rule,
    trigger: str,
    facts: Mapping[str, Any],
    decision: str,
    subject_id: str,
    window: str,
    ts: float,
    now: float,
) -> DecisionRecord:
    """The decision ``rule`` makes over ``facts`` (its condition is known to hold)."""
    evidence = {name: _copy(facts.get(name)) for name in rule.evidence}
    event_id = facts.get("event_id")
    evidence["trigger_event_id"] = None if event_id is None else str(event_id)
    return DecisionRecord(
        decision_id=decision,
        ts=now,
        trigger_ts=ts,
        rule_id=rule.id,
        rule_version=rule.version,
        action=rule.action,
        subject_type=rule.subject,
        subject_id=subject_id,
        priority=rule.priority,
        reason=str(rule.reason.render(facts)),
        evidence=evidence,
        params={name: t.render(facts) for name, t in rule.params.items()},
        model_versions={m: facts.get(MODEL_VERSION_FACTS[m]) for m in rule.models},
        trigger_window=window,
        trigger=trigger,
        trigger_event_id=evidence["trigger_event_id"],
    )


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value
