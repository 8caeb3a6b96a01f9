"""Conditions and template fields: checked once against a whitelist, then compiled to a function.

An expression is parsed with :mod:`ast`, walked with a strict whitelist (fact
names, literals, comparisons, ``and``/``or``/``not``, ``+ - * / // %``, and the
functions in :data:`FUNCTIONS`), type-checked against the fact catalogue, and
turned into the source of one small Python function over the facts mapping.
Nothing the author writes reaches ``exec`` except through that generated
source, which only holds catalogue names, literal ``repr`` values and operators.

A fact that is absent or ``None`` makes the whole expression *missing* (a
condition is then false), unless it is wrapped in ``default(fact, value)``.

>>> cond = compile_expression("review_score < -0.5 and review_rating <= 2", {"review_score", "review_rating"}, want="bool")
>>> cond.function({"review_score": -0.9, "review_rating": 1}), cond.function({"review_score": -0.9})
(True, False)
>>> sorted(cond.facts)
['review_rating', 'review_score']
>>> compile_expression("default(review_rating, 5) <= 2", {"review_rating"}, want="bool").function({})
False
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from rules.checker import BOOL, LIST, NUMBER, STR, Checker, noun
from rules.exceptions import RuleSyntaxError, RuleValidationError

__all__ = ["BOOL", "LIST", "MISSING", "NUMBER", "STR", "Expression", "compile_expression"]

#: Longest expression accepted, in characters.
MAX_EXPRESSION_CHARS = 2_000

_GLOBALS: dict[str, Any] = {
    "__builtins__": {},
    "_abs": abs,
    "_min": min,
    "_max": max,
    "_round": round,
    "_len": len,
    "_lower": str.lower,
    "_Errors": (KeyError, ArithmeticError, TypeError, ValueError),
}


class _Missing:
    """The value of an expression whose facts are missing."""

    def __repr__(self) -> str:
        return "MISSING"


#: Returned by a compiled non-condition expression when a fact it needs is missing.
MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class Expression:
    """A checked, compiled expression."""

    text: str
    type: str
    #: Facts it needs (absent or None: the expression is missing).
    facts: frozenset[str]
    #: Facts it reads through ``default()`` only.
    optional: frozenset[str]
    source: str
    function: Callable[[Mapping[str, Any]], Any]


def compile_expression(
    text: str, available: Collection[str], *, want: str | None = None
) -> Expression:
    """Check ``text`` against the facts in ``available`` and compile it.

    ``want="bool"`` makes it a condition (false when facts are missing);
    otherwise a missing fact gives :data:`MISSING`.
    Raises :class:`RuleSyntaxError` or :class:`RuleValidationError` with
    ``line`` counted from the expression's first line.
    """
    tree, source, shift = _parse(text)
    checker = Checker(source, shift, available)
    if want == BOOL:
        kind, steps = BOOL, _conjunction_steps(checker, tree.body)
    else:
        kind, code = checker.visit(tree.body, 0)
        steps = [(code, set(checker.required), set(checker.optional - checker.required))]
    if want is not None and kind != want:
        raise RuleValidationError(
            f"type error: the expression must give a {noun(want)}, it gives a {noun(kind)}",
            line=1,
        )
    required = frozenset(checker.required)
    optional = frozenset(checker.optional - checker.required)
    source = _function_source(steps, missing="False" if want == BOOL else "_M")
    namespace: dict[str, Any] = {**_GLOBALS, "_M": MISSING}
    exec(compile(source, f"<rule expression {text[:40]!r}>", "exec"), namespace)  # noqa: S102
    return Expression(text, kind, required, optional, source, namespace["_f"])


_Step = tuple[str, set[str], set[str]]


def _conjuncts(node: ast.expr) -> list[ast.expr]:
    """The operands of a top-level ``and`` (nested ones flattened), else the node itself."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return [part for value in node.values for part in _conjuncts(value)]
    return [node]


def _conjunction_steps(checker: Checker, body: ast.expr) -> list[_Step]:
    """One step per conjunct: its code, and the facts it needs and reads first.

    A condition that is false is false whichever facts are missing, so each
    conjunct can return early, reading only the facts it needs, as hand-written
    ``and`` chains do.
    """
    steps: list[_Step] = []
    loaded: set[str] = set()
    parts = _conjuncts(body)
    for part in parts:
        kind, code = checker.visit(part, 1)
        if kind != BOOL and len(parts) == 1:
            checker.fail(
                part, f"type error: the expression must give a true/false, it gives a {noun(kind)}"
            )
        if kind != BOOL:
            checker.fail(part, f"type error: 'and' needs true/false operands, got a {noun(kind)}")
        required = checker.required - loaded
        optional = checker.optional - checker.required - loaded
        loaded |= required | optional
        steps.append((code, required, optional))
    return steps


def _parse(text: str) -> tuple[ast.Expression, str, int]:
    """The tree, the text parsed, and how many lines that text adds before the author's.

    A condition written over several lines (a YAML ``|`` block) is parsed inside
    parentheses, as Python would need it.
    """
    if len(text) > MAX_EXPRESSION_CHARS:
        raise RuleSyntaxError(f"expression longer than {MAX_EXPRESSION_CHARS} characters", line=1)
    source, shift = text.strip(), 0
    if not source:
        raise RuleSyntaxError("empty expression", line=1)
    if "\n" in source:
        source, shift = f"(\n{source}\n)", 1
    try:
        return ast.parse(source, mode="eval"), source, shift
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        reason = exc.msg if exc.msg.startswith("invalid syntax") else f"invalid syntax: {exc.msg}"
        raise RuleSyntaxError(f"{reason}{where}", line=max(1, (exc.lineno or 1) - shift)) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise RuleSyntaxError(f"expression cannot be parsed: {exc}", line=1) from None


def _function_source(steps: list[_Step], missing: str) -> str:
    """The source of ``_f(f)``: for each step, read its facts, then test it (the last: return it)."""
    lines = ["def _f(f):", "    try:"]
    for number, (code, required, optional) in enumerate(steps, 1):
        lines += [f"        v_{name} = f[{name!r}]" for name in sorted(required)]
        if required:
            nones = " or ".join(f"v_{name} is None" for name in sorted(required))
            lines += [f"        if {nones}:", f"            return {missing}"]
        lines += [f"        v_{name} = f.get({name!r})" for name in sorted(optional)]
        if number < len(steps):
            lines += [f"        if not {code}:", "            return False"]
        else:
            lines.append(f"        return {code}")
    lines += ["    except _Errors:", f"        return {missing}"]
    return "\n".join(lines) + "\n"
