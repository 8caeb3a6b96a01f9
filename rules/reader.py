"""One rule's YAML mapping to a :class:`~rules.rule.Rule`, checking every field where it stands."""

from __future__ import annotations

import re
from typing import Any

import yaml

from rules.actions import ACTIONS, Action
from rules.checker import BOOL, LIST, suggest
from rules.exceptions import RuleError, RuleSyntaxError
from rules.expr import Expression, compile_expression
from rules.facts import FACTS, TRIGGERS
from rules.fields import FieldReader
from rules.rule import SUBJECTS, Rule
from rules.source import kind, line_of, mapping, value
from rules.templates import Template, compile_template

#: Every field of a rule -> what it holds (``pulse rules check`` names them on a typo).
RULE_KEYS: dict[str, str] = {
    "id": "unique name: letters, digits, '_', '.', '-'",
    "description": "what the rule is for",
    "version": "integer >= 1; part of the decision id",
    "when": "the condition over facts",
    "then": "{action: NAME, params: {...}}",
    "reason": "template for the decision's reason (default: the description)",
    "triggers": "trigger or list of triggers (default: every trigger its facts exist on)",
    "subject": "product, user or review (default: product)",
    "window": "fire at most once per subject per event-time window ('1h')",
    "min_evidence": "{count fact: minimum} that must hold too",
    "evidence": "extra facts to copy into the decision",
    "priority": "0-100, higher is more urgent (default 50)",
    "cooldown": "quiet time per subject after a decision ('6h', default 0)",
    "enabled": "true/false (default true)",
    "owner": "who answers for the rule",
    "labels": "list of free-text labels",
}
REQUIRED_KEYS = ("id", "description", "version", "when", "then")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_ALL_FACTS = frozenset(FACTS)


class RuleReader(FieldReader):
    """Reads one rule node; the first problem raises a RuleError placed at its line."""

    def __init__(self, node: Any, file: str) -> None:
        super().__init__(node, file, _raw_id(node))
        self.rule_id = self._id()

    def read(self) -> Rule:
        self._check_keys()
        version = self.integer("version", 1, 10**9, None)
        description = self.text("description")
        when = self._expression("when", self.text("when"), BOOL)
        min_evidence = self._min_evidence()
        action, params = self._then()
        reason = self._template(self.node_of("reason"), "reason", description)
        extra = self._fact_list("evidence")
        subject = self.choice("subject", SUBJECTS, "product")
        used = set(when.facts | when.optional | set(min_evidence) | set(extra) | reason.facts)
        used |= {SUBJECTS[subject], *(f for t in params.values() for f in t.facts)}
        evidence = tuple(
            dict.fromkeys([*sorted(when.facts | when.optional), *min_evidence, *extra])
        )
        return Rule(
            id=str(self.rule_id),
            version=version,
            description=description,
            when=when.text,
            condition=_with_evidence(when, min_evidence),
            triggers=self._triggers(used, subject),
            subject=subject,
            action=action.name,
            params=params,
            reason=reason,
            priority=self.integer("priority", 0, 100, 50),
            cooldown=self.duration("cooldown", 0.0),
            window=self._window(),
            min_evidence=min_evidence,
            evidence=evidence,
            models=tuple(sorted({m for f in used if (m := FACTS[f].model)})),
            enabled=self.flag("enabled", True),
            owner=self.text("owner") if "owner" in self.entries else None,
            labels=self._labels(),
            file=self.file,
            line=line_of(self.node),
        )

    def _id(self) -> str:
        node = self.node_of("id")
        if node is None:
            self.fail("missing required field 'id'")
        found = value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(found, str) or not _ID.match(found):
            self.fail(
                f"id must be letters, digits, '_', '.', '-' (at most 128), got {kind(node)}", node
            )
        return found

    def _check_keys(self) -> None:
        for key, (key_node, _) in self.entries.items():
            if key not in RULE_KEYS:
                known = ", ".join(RULE_KEYS)
                self.fail(
                    f"unknown field {key!r}{suggest(key, RULE_KEYS)}; fields: {known}", key_node
                )
        for key in REQUIRED_KEYS:
            if key not in self.entries:
                self.fail(f"missing required field {key!r} ({RULE_KEYS[key]})")

    def _window(self) -> float | None:
        window = self.duration("window", 0.0)
        if "window" in self.entries and window <= 0:
            self.fail("window must be longer than 0 s", self.node_of("window"))
        return window or None

    def _labels(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.names("labels"))

    def _fact_list(self, key: str) -> list[str]:
        for node, name in self.names(key):
            if name not in FACTS:
                self.fail(f"{key}: unknown fact {name!r}{suggest(name, FACTS)}", node)
        return [name for _, name in self.names(key)]

    def _expression(self, key: str, text: str, want: str | None) -> Expression:
        node = self.node_of(key)
        try:
            return compile_expression(text, _ALL_FACTS, want=want)
        except RuleError as exc:
            line = line_of(node) + (exc.line or 1) - 1
            raise type(exc)(
                f"{key}: {exc.reason}", file=self.file, line=line, rule_id=self.rule_id
            ) from None

    def _template(self, node: Any, what: str, default: str | None = None) -> Template:
        if node is None and default is not None:
            return compile_template(default.replace("{", "{{").replace("}", "}}"), _ALL_FACTS)
        found = value(node) if isinstance(node, yaml.ScalarNode | yaml.SequenceNode) else None
        if isinstance(found, list):
            if not all(isinstance(v, str) for v in found):
                self.fail(f"{what}: a list parameter must hold only texts", node)
            found = "{" + repr(found) + "}"
        elif isinstance(found, int | float) and not isinstance(found, bool):
            found = "{" + repr(found) + "}"
        if not isinstance(found, str):
            self.fail(
                f"{what} must be text (a template), a number or a list of texts, got {kind(node)}",
                node,
            )
        try:
            return compile_template(found, _ALL_FACTS)
        except RuleError as exc:
            line = line_of(node) + (exc.line or 1) - 1
            raise type(exc)(
                f"{what}: {exc.reason}", file=self.file, line=line, rule_id=self.rule_id
            ) from None

    def _min_evidence(self) -> dict[str, float]:
        node = self.node_of("min_evidence")
        if node is None:
            return {}
        out = {}
        for name, (key_node, value_node) in mapping(node, self.file, self.rule_id).items():
            if name not in FACTS:
                self.fail(f"min_evidence: unknown fact {name!r}{suggest(name, FACTS)}", key_node)
            if FACTS[name].type not in ("int", "float"):
                self.fail(f"min_evidence: {name!r} is not a number fact", key_node)
            found = value(value_node) if isinstance(value_node, yaml.ScalarNode) else None
            if isinstance(found, bool) or not isinstance(found, int | float) or found < 0:
                self.fail(
                    f"min_evidence: {name} needs a minimum >= 0, got {kind(value_node)}", value_node
                )
            out[name] = found
        return out

    def _then(self) -> tuple[Action, dict[str, Template]]:
        node = self.node_of("then")
        entries = mapping(node, self.file, self.rule_id)
        for key, (key_node, _) in entries.items():
            if key not in ("action", "params"):
                self.fail(
                    f"then: unknown field {key!r}; then holds 'action' and 'params'", key_node
                )
        if "action" not in entries:
            self.fail("then: missing 'action'", node)
        action_node = entries["action"][1]
        name = value(action_node) if isinstance(action_node, yaml.ScalarNode) else None
        if not isinstance(name, str) or name not in ACTIONS:
            hint = suggest(name, ACTIONS) if isinstance(name, str) else ""
            self.fail(f"unknown action {name!r}{hint}; actions: {', '.join(ACTIONS)}", action_node)
        action = ACTIONS[name]
        params_node = entries["params"][1] if "params" in entries else None
        return action, self._params(action, params_node, node)

    def _params(self, action: Action, node: Any, then_node: Any) -> dict[str, Template]:
        given = mapping(node, self.file, self.rule_id) if node is not None else {}
        params = {}
        for name, (key_node, value_node) in given.items():
            spec = action.params.get(name)
            if spec is None:
                allowed = ", ".join(action.params)
                self.fail(
                    f"action {action.name!r} has no param {name!r}; params: {allowed}", key_node
                )
            template = self._template(value_node, f"param {name!r}")
            if not _fits(template.type, spec.type):
                self.fail(
                    f"type error: param {name!r} of {action.name!r} must be a {spec.type}, "
                    f"this gives a {template.type}",
                    value_node,
                )
            params[name] = template
        for name, spec in action.params.items():
            if spec.required and name not in params:
                self.fail(
                    f"action {action.name!r} needs param {name!r} ({spec.description})", then_node
                )
        return params

    def _triggers(self, used: set[str], subject: str) -> tuple[str, ...]:
        node = self.node_of("triggers")
        if node is None:
            triggers = tuple(t for t in TRIGGERS if all(t in FACTS[f].triggers for f in used))
            if not triggers:
                where = [
                    f"{f} ({'/'.join(sorted(FACTS[f].triggers))})"
                    for f in sorted(used)
                    if len(FACTS[f].triggers) < len(TRIGGERS)
                ]
                self.fail("no trigger has all its facts: " + ", ".join(where), self.node_of("when"))
        else:
            names = {name for _, name in self.names("triggers")}
            for item, name in self.names("triggers"):
                if name not in TRIGGERS:
                    self.fail(
                        f"unknown trigger {name!r}{suggest(name, TRIGGERS)}; triggers: {', '.join(TRIGGERS)}",
                        item,
                    )
            for trigger in TRIGGERS:
                for fact in sorted(used) if trigger in names else ():
                    if trigger not in FACTS[fact].triggers:
                        only = ", ".join(sorted(FACTS[fact].triggers))
                        if fact == SUBJECTS[subject]:
                            self.fail(
                                f"subject {subject!r} needs fact {fact!r}, which does not exist on "
                                f"trigger {trigger!r} (only on: {only})",
                                node,
                            )
                        self.fail(
                            f"fact {fact!r} does not exist on trigger {trigger!r} (only on: {only})",
                            node,
                        )
            triggers = tuple(t for t in TRIGGERS if t in names)
        if subject == "review" and triggers != ("review",):
            self.fail("subject 'review' needs 'triggers: review' only", self.node_of("subject"))
        return triggers


def _raw_id(node: Any) -> str | None:
    """The id as written, to name the rule in errors found before the id is checked."""
    for key, item in node.value if isinstance(node, yaml.MappingNode) else ():
        if getattr(key, "value", None) == "id" and isinstance(item, yaml.ScalarNode):
            return str(item.value)
    return None


def _fits(given: str, wanted: str) -> bool:
    return given == wanted or (given == LIST and wanted.startswith(LIST))


def _with_evidence(when: Expression, minimums: dict[str, float]) -> Expression:
    """``when`` and-ed with ``fact >= minimum`` for each minimum (all checked already)."""
    if not minimums:
        return when
    # On lines of their own, so that a comment at the end of ``when`` cannot swallow the rest.
    text = " and ".join(
        [f"(\n{when.text.strip()}\n)", *(f"{f} >= {m!r}" for f, m in minimums.items())]
    )
    try:
        return compile_expression(text, _ALL_FACTS, want=BOOL)
    except RuleError as exc:  # pragma: no cover - both halves were checked
        raise RuleSyntaxError(f"cannot combine when and min_evidence: {exc.reason}") from None
