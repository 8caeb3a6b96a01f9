"""Templates over facts: ``"score {review_score:.2f} on {product_id}"``.

A field ``{...}`` holds an expression (the same whitelist as conditions) and an
optional format spec after ``:``; ``{{`` and ``}}`` are literal braces. A
template that is one field and nothing else keeps its value's type (a number,
a list), so a parameter can carry a number or the user's recommendations. A
field whose facts are missing renders as ``n/a`` (or ``None`` when kept whole).

>>> t = compile_template("views {views_1h}, conversion {conversion_1h:.1%}", {"views_1h", "conversion_1h"})
>>> t.render({"views_1h": 120, "conversion_1h": 0.0125}), t.render({"views_1h": 3})
('views 120, conversion 1.2%', 'views 3, conversion n/a')
>>> compile_template("{units_24h * 2}", {"units_24h"}).render({"units_24h": 4})
8
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from rules.checker import NUMBER, STR
from rules.exceptions import RuleSyntaxError, RuleValidationError
from rules.expr import MISSING, Expression, compile_expression

#: Shown in text for a field whose facts are missing.
NOT_AVAILABLE = "n/a"
_SAMPLES: dict[str, tuple[Any, ...]] = {NUMBER: (1.5, 1), STR: ("x",)}
#: Widest field or most digits a format spec may ask for.
MAX_SPEC_NUMBER = 64
_SPEC_NUMBERS = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class Template:
    """A checked template: literal text and compiled fields, in order."""

    text: str
    #: Each part: a literal string, or ``(expression, format spec)``.
    parts: tuple[str | tuple[Expression, str], ...]

    @property
    def whole(self) -> Expression | None:
        """The expression when the template is exactly one field without a spec."""
        if len(self.parts) == 1 and isinstance(self.parts[0], tuple) and not self.parts[0][1]:
            return self.parts[0][0]
        return None

    @property
    def type(self) -> str:
        """``str``, or the field's type for a whole-field template."""
        whole = self.whole
        return whole.type if whole is not None else STR

    @property
    def facts(self) -> frozenset[str]:
        """Every fact the template reads."""
        out: frozenset[str] = frozenset()
        for part in self.parts:
            if isinstance(part, tuple):
                out |= part[0].facts | part[0].optional
        return out

    def render(self, facts: Mapping[str, Any]) -> Any:
        """The text (or, for a whole-field template, the value) over ``facts``."""
        whole = self.whole
        if whole is not None:
            value = whole.function(facts)
            return None if value is MISSING else _jsonable(value)
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part[0].function(facts)
            out.append(NOT_AVAILABLE if value is MISSING else _format(value, part[1]))
        return "".join(out)


def compile_template(text: str, available: Collection[str]) -> Template:
    """Parse and check a template; errors carry ``line`` within the text."""
    parts: list[str | tuple[Expression, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text[i + 1 : i + 2] == char:
            literal.append(char)
            i += 2
        elif char == "}":
            raise RuleSyntaxError(
                "template: single '}' (write '}}' for a brace)", line=_line(text, i)
            )
        elif char == "{":
            end = text.find("}", i)
            if end < 0:
                raise RuleSyntaxError("template: '{' is never closed", line=_line(text, i))
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_field(text[i + 1 : end], available, _line(text, i)))
            i = end + 1
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append("".join(literal))
    return Template(text, tuple(parts))


def _field(field: str, available: Collection[str], line: int) -> tuple[Expression, str]:
    source, _, spec = field.partition(":")
    try:
        expression = compile_expression(source, available)
    except (RuleSyntaxError, RuleValidationError) as exc:
        raise type(exc)(f"template field {{{field}}}: {exc.reason}", line=line) from None
    if any(int(n) > MAX_SPEC_NUMBER for n in _SPEC_NUMBERS.findall(spec)):
        raise RuleValidationError(
            f"template field {{{field}}}: widths and precisions above {MAX_SPEC_NUMBER} are not allowed",
            line=line,
        )
    if spec and not _spec_fits(expression.type, spec):
        raise RuleValidationError(
            f"template field {{{field}}}: format {spec!r} does not fit a {expression.type}",
            line=line,
        )
    return expression, spec


def _spec_fits(kind: str, spec: str) -> bool:
    for sample in _SAMPLES.get(kind, ()):
        try:
            format(sample, spec)
        except (ValueError, TypeError):
            continue
        return True
    return False


def _format(value: Any, spec: str) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    try:
        return format(value, spec)
    except (ValueError, TypeError):
        return str(value)


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1
