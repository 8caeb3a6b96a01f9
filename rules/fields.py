"""Typed reads of one YAML mapping's fields, each failing at its own line.

>>> from rules.source import parse_yaml
>>> fields = FieldReader(parse_yaml("priority: 7\\nwindow: 1h\\n", "r.yaml"), "r.yaml")
>>> fields.integer("priority", 0, 100, 50), fields.duration("window", 0.0), fields.flag("enabled", True)
(7, 3600.0, True)
"""

from __future__ import annotations

from typing import Any, NoReturn

import yaml

from rules.exceptions import RuleValidationError
from rules.rule import parse_duration
from rules.source import kind, line_of, mapping, value


class FieldReader:
    """The entries of a mapping node, read with types checked; ``rule_id`` names it in errors."""

    def __init__(self, node: Any, file: str, rule_id: str | None = None) -> None:
        self.file, self.node, self.rule_id = file, node, rule_id
        self.entries = mapping(node, file, rule_id)

    def fail(self, reason: str, node: Any = None, error: type = RuleValidationError) -> NoReturn:
        raise error(reason, file=self.file, line=line_of(node or self.node), rule_id=self.rule_id)

    def node_of(self, key: str) -> Any:
        entry = self.entries.get(key)
        return entry[1] if entry else None

    def scalar(self, key: str, types: tuple[type, ...], what: str) -> Any:
        node = self.node_of(key)
        if node is None:
            self.fail(f"missing required field {key!r}")
        found = value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(found, types) or (bool not in types and isinstance(found, bool)):
            self.fail(f"{key} must be {what}, got {kind(node)}", node)
        return found

    def text(self, key: str) -> str:
        text: str = self.scalar(key, (str,), "text")
        if not text.strip():
            self.fail(f"{key} must not be empty", self.node_of(key))
        return text

    def integer(self, key: str, low: int, high: int, default: int | None) -> int:
        if key not in self.entries and default is not None:
            return default
        number: int = self.scalar(key, (int,), f"an integer from {low} to {high}")
        if not low <= number <= high:
            reason = f"{key} must be an integer from {low} to {high}, got {number}"
            self.fail(reason, self.node_of(key))
        return number

    def flag(self, key: str, default: bool) -> bool:
        if key not in self.entries:
            return default
        return bool(self.scalar(key, (bool,), "true or false"))

    def duration(self, key: str, default: float) -> float:
        if key not in self.entries:
            return default
        try:
            return parse_duration(self.scalar(key, (str, int, float), "a duration"))
        except ValueError as exc:
            self.fail(f"{key}: {exc}", self.node_of(key))

    def choice(self, key: str, choices: dict[str, str], default: str) -> str:
        if key not in self.entries:
            return default
        found = self.scalar(key, (str,), "text")
        if found not in choices:
            reason = f"{key} must be one of {', '.join(choices)}, got {found!r}"
            self.fail(reason, self.node_of(key))
        return str(found)

    def names(self, key: str) -> list[tuple[Any, str]]:
        """A name or a list of names, each with its node."""
        node = self.node_of(key)
        if node is None:
            return []
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out = []
        for item in items:
            found = value(item) if isinstance(item, yaml.ScalarNode) else None
            if not isinstance(found, str):
                self.fail(f"{key} must be a name or a list of names, got {kind(item)}", item)
            out.append((item, found))
        return out
