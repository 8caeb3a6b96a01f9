"""Rule files as YAML nodes, so that every value keeps the line it came from.

>>> node = parse_yaml("- id: a\\n  version: 2\\n", "r.yaml")
>>> item = node.value[0]
>>> items = mapping(item, "r.yaml", None)
>>> value(items["version"][1]), line_of(items["version"][1])
(2, 2)
>>> parse_yaml("- id: a\\n  when: [1\\n", "r.yaml")
Traceback (most recent call last):
rules.exceptions.RuleSyntaxError: r.yaml:3: rule 'a': YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at line 2)
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from rules.exceptions import RuleSyntaxError, RuleValidationError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ID_LINE = re.compile(r"^\s*-?\s*id\s*:\s*['\"]?([^'\"#\s]+)")


def parse_yaml(text: str, file: str) -> Any:
    """The document's root node (``None`` for an empty file); YAML errors name the line."""
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        context = ""
        if exc.context and exc.context_mark is not None:
            context = f" ({exc.context} at line {exc.context_mark.line + 1})"
        reason = f"YAML syntax error: {exc.problem}{context}"
        raise RuleSyntaxError(
            reason, file=file, line=line, rule_id=_rule_before(text, line)
        ) from None
    except yaml.YAMLError as exc:
        raise RuleSyntaxError(f"YAML error: {exc}", file=file) from None


def _rule_before(text: str, line: int | None) -> str | None:
    """The id of the last rule that starts at or before ``line``, to name it in a syntax error."""
    lines = text.splitlines()[: line or 0]
    for row in reversed(lines):
        if match := _ID_LINE.match(row):
            return match.group(1)
    return None


def line_of(node: Any) -> int:
    """The 1-based line where a node's content starts (a block scalar's text is on the next)."""
    line: int = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        line += 1
    return line


def mapping(node: Any, file: str, rule_id: str | None) -> dict[str, tuple[Any, Any]]:
    """A mapping node's entries, key -> (key node, value node); duplicate keys are errors."""
    if not isinstance(node, yaml.MappingNode):
        raise RuleValidationError(
            f"expected a mapping (key: value), got {kind(node)}",
            file=file,
            line=line_of(node),
            rule_id=rule_id,
        )
    out: dict[str, tuple[Any, Any]] = {}
    for key_node, value_node in node.value:
        # The key as written: 'on', 'yes', 'no' stay names (YAML 1.1 would make them booleans).
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            raise RuleValidationError(
                "keys must be plain names", file=file, line=line_of(key_node), rule_id=rule_id
            )
        if key in out:
            first = line_of(out[key][0])
            raise RuleValidationError(
                f"duplicate key {key!r} (first at line {first})",
                file=file,
                line=line_of(key_node),
                rule_id=rule_id,
            )
        out[key] = (key_node, value_node)
    return out


def value(node: Any) -> Any:
    """The Python value of a node (scalars, lists and mappings all the way down)."""
    return _Loader("").construct_object(node, deep=True)


def kind(node: Any) -> str:
    """A node's kind, in words, for error messages."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    found = value(node)
    return "nothing" if found is None else f"{type(found).__name__} {found!r}"
