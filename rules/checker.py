"""The whitelist walk over a parsed expression: allowed nodes, types, and the code to run.

Each visit returns ``(type, code)``: the checker's type of the node (number,
str, bool, list[...]) and fully parenthesised Python source for it, in which
facts are local variables ``v_<name>`` and functions are ``_<name>`` globals.

>>> checker = Checker("views_1h * 2 > 10", 0, {"views_1h"})
>>> import ast
>>> checker.visit(ast.parse("views_1h * 2 > 10", mode="eval").body, 0)
('bool', '((v_views_1h * 2) > 10)')
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Collection
from typing import NoReturn

from rules.exceptions import RuleSyntaxError, RuleValidationError
from rules.facts import FACTS

NUMBER, STR, BOOL, LIST = "number", "str", "bool", "list"
#: Deepest nesting of an expression's syntax tree.
MAX_DEPTH = 40
#: Most elements in a literal list.
MAX_LIST = 1_000

#: Whitelisted functions: name -> what it does (for errors and docs).
FUNCTIONS: dict[str, str] = {
    "abs": "abs(number) -> number",
    "min": "min(number, number, ...) -> number",
    "max": "max(number, number, ...) -> number",
    "round": "round(number[, digits]) -> number",
    "len": "len(text or list) -> number",
    "lower": "lower(text) -> text, lower-cased",
    "default": "default(fact, value) -> the fact, or value when the fact is missing",
}
_ORDER = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_EQUAL = {ast.Eq: "==", ast.NotEq: "!="}
_MEMBER = {ast.In: "in", ast.NotIn: "not in"}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%"}
_FORBIDDEN = {
    ast.Attribute: "attribute access (x.y) is not allowed",
    ast.Subscript: "subscripts (x[...]) are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.IfExp: "conditional expressions (x if c else y) are not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.Starred: "* unpacking is not allowed",
    ast.Await: "await is not allowed",
}


def fact_kind(name: str) -> str:
    """The checker's type of a catalogue fact: number, str, bool or list[...]."""
    declared = FACTS[name].type
    return NUMBER if declared in ("int", "float") else declared


def noun(kind: str) -> str:
    return {NUMBER: "number", STR: "text", BOOL: "true/false"}.get(kind, kind)


class Checker:
    """Walks a parsed expression: whitelist, types and generated code, in one pass."""

    def __init__(self, text: str, shift: int, available: Collection[str]) -> None:
        self.text, self.shift = text, shift
        self.available = available
        self.required: set[str] = set()
        self.optional: set[str] = set()

    def fail(self, node: ast.AST, reason: str, error: type = RuleValidationError) -> NoReturn:
        segment = ast.get_source_segment(self.text, node)
        whole = segment == self.text.strip("()\n")
        named = isinstance(node, ast.Name | ast.Constant | ast.Call)  # the reason names it already
        where = f" in {segment!r}" if segment and not (whole or named) else ""
        raise error(f"{reason}{where}", line=max(1, getattr(node, "lineno", 1) - self.shift))

    def visit(self, node: ast.AST, depth: int) -> tuple[str, str]:
        if depth > MAX_DEPTH:
            self.fail(node, f"expression nested deeper than {MAX_DEPTH}", RuleSyntaxError)
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            reason = _FORBIDDEN.get(type(node), f"{type(node).__name__} is not allowed")
            self.fail(node, reason, RuleSyntaxError)
        result: tuple[str, str] = method(node, depth + 1)
        return result

    def visit_Name(self, node: ast.Name, depth: int) -> tuple[str, str]:
        self._check_name(node)
        self.required.add(node.id)
        return fact_kind(node.id), f"v_{node.id}"

    def _check_name(self, node: ast.Name) -> None:
        name = node.id
        if name.startswith("__"):
            self.fail(node, f"dunder names like {name!r} are not allowed", RuleSyntaxError)
        if name in FUNCTIONS:
            self.fail(node, f"{name!r} is a function: call it, e.g. {FUNCTIONS[name]}")
        if name not in FACTS:
            self.fail(node, f"unknown fact {name!r}{suggest(name, FACTS)}")
        if name not in self.available:
            where = ", ".join(sorted(FACTS[name].triggers))
            self.fail(
                node, f"fact {name!r} is not available on this rule's triggers (only on: {where})"
            )

    def visit_Constant(self, node: ast.Constant, depth: int) -> tuple[str, str]:
        value = node.value
        if isinstance(value, bool):
            return BOOL, repr(value)
        if isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                self.fail(node, f"number {value!r} is too large", RuleSyntaxError)
            return NUMBER, repr(value)
        if isinstance(value, str):
            return STR, repr(value)
        if value is None:
            self.fail(
                node, "None is not allowed: a missing fact never fires; use default(fact, value)"
            )
        self.fail(node, f"literal {value!r} is not allowed", RuleSyntaxError)

    def visit_List(self, node: ast.List | ast.Tuple, depth: int) -> tuple[str, str]:
        if len(node.elts) > MAX_LIST:
            self.fail(node, f"literal lists hold at most {MAX_LIST} items", RuleSyntaxError)
        kinds, codes = set(), []
        for element in node.elts:
            if not isinstance(element, ast.Constant | ast.UnaryOp):
                self.fail(element, "literal lists may only hold literals", RuleSyntaxError)
            kind, code = self.visit(element, depth)
            kinds.add(kind)
            codes.append(code)
        if len(kinds) > 1 or kinds & {BOOL}:
            self.fail(node, "a literal list must hold only numbers or only texts")
        kind = f"list[{kinds.pop()}]" if kinds else LIST
        return kind, "(" + "".join(f"{code}, " for code in codes) + ")"

    visit_Tuple = visit_List

    def visit_BoolOp(self, node: ast.BoolOp, depth: int) -> tuple[str, str]:
        word = "and" if isinstance(node.op, ast.And) else "or"
        codes = []
        for value in node.values:
            kind, code = self.visit(value, depth)
            if kind != BOOL:
                self.fail(
                    value, f"type error: {word!r} needs true/false operands, got a {noun(kind)}"
                )
            codes.append(code)
        return BOOL, "(" + f" {word} ".join(codes) + ")"

    def visit_UnaryOp(self, node: ast.UnaryOp, depth: int) -> tuple[str, str]:
        kind, code = self.visit(node.operand, depth)
        if isinstance(node.op, ast.Not):
            if kind != BOOL:
                self.fail(node, f"type error: 'not' needs true/false, got a {noun(kind)}")
            return BOOL, f"(not {code})"
        if isinstance(node.op, ast.USub | ast.UAdd):
            if kind != NUMBER:
                self.fail(node, f"type error: sign needs a number, got a {noun(kind)}")
            return NUMBER, f"({'-' if isinstance(node.op, ast.USub) else '+'}{code})"
        self.fail(node, "bitwise operators are not allowed", RuleSyntaxError)

    def visit_BinOp(self, node: ast.BinOp, depth: int) -> tuple[str, str]:
        op = _ARITH.get(type(node.op))
        if op is None:
            symbol = "**" if isinstance(node.op, ast.Pow) else type(node.op).__name__
            self.fail(node, f"operator {symbol!r} is not allowed", RuleSyntaxError)
        (left, lcode), (right, rcode) = self.visit(node.left, depth), self.visit(node.right, depth)
        if left != NUMBER or right != NUMBER:
            self.fail(
                node, f"type error: {op!r} needs numbers, got a {noun(left)} and a {noun(right)}"
            )
        return NUMBER, f"({lcode} {op} {rcode})"

    def visit_Compare(self, node: ast.Compare, depth: int) -> tuple[str, str]:
        if any(isinstance(op, ast.Is | ast.IsNot) for op in node.ops):
            self.fail(
                node, "'is' is not allowed: use == (a missing fact never fires)", RuleSyntaxError
            )
        left, code = self.visit(node.left, depth)
        parts = [code]
        for op, operand in zip(node.ops, node.comparators, strict=True):
            right, rcode = self.visit(operand, depth)
            parts += [self._compare_op(node, op, left, right), rcode]
            left = right
        return BOOL, "(" + " ".join(parts) + ")"

    def _compare_op(self, node: ast.AST, op: ast.cmpop, left: str, right: str) -> str:
        kinds = f"a {noun(left)} and a {noun(right)}"
        if type(op) in _ORDER:
            symbol = _ORDER[type(op)]
            if left != NUMBER or right != NUMBER:
                self.fail(node, f"type error: {symbol!r} compares numbers, got {kinds}")
            return symbol
        if type(op) in _EQUAL:
            if left != right or left not in (NUMBER, STR, BOOL):
                self.fail(node, f"type error: cannot compare {kinds} for equality")
            return _EQUAL[type(op)]
        if type(op) in _MEMBER:
            if not (right == LIST or right == f"list[{left}]" or left == right == STR):
                self.fail(node, f"type error: cannot test {kinds} for membership")
            return _MEMBER[type(op)]
        self.fail(node, "'is' is not allowed: use == (a missing fact never fires)", RuleSyntaxError)

    def visit_Call(self, node: ast.Call, depth: int) -> tuple[str, str]:
        if not isinstance(node.func, ast.Name):
            self.visit(node.func, depth)  # names the construct: attribute, lambda, subscript
            self.fail(
                node,
                "only the functions " + ", ".join(FUNCTIONS) + " may be called",
                RuleSyntaxError,
            )
        name = node.func.id
        if name.startswith("__"):
            self.fail(node, f"dunder names like {name!r} are not allowed", RuleSyntaxError)
        if name not in FUNCTIONS:
            self.fail(
                node,
                f"unknown function {name!r}{suggest(name, FUNCTIONS)}; allowed: {', '.join(FUNCTIONS)}",
            )
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            self.fail(node, f"{name}() takes plain positional arguments only", RuleSyntaxError)
        if name == "default":
            return self._default(node, depth)
        args = [self.visit(arg, depth) for arg in node.args]
        return _call_signature(self, node, name, args)

    def _default(self, node: ast.Call, depth: int) -> tuple[str, str]:
        if len(node.args) != 2 or not isinstance(node.args[0], ast.Name):
            self.fail(node, "default() takes a fact name and a value: " + FUNCTIONS["default"])
        fact = node.args[0]
        assert isinstance(fact, ast.Name)
        self._check_name(fact)
        kind = fact_kind(fact.id)
        fallback, code = self.visit(node.args[1], depth)
        if fallback != kind and not (fallback == LIST and kind.startswith("list")):
            self.fail(node, f"type error: default for a {noun(kind)} fact must be a {noun(kind)}")
        self.optional.add(fact.id)
        return kind, f"({code} if v_{fact.id} is None else v_{fact.id})"


def _call_signature(
    checker: Checker, node: ast.Call, name: str, args: list[tuple[str, str]]
) -> tuple[str, str]:
    """Type-check a call to a whitelisted function other than default()."""
    kinds, codes = [k for k, _ in args], ", ".join(c for _, c in args)
    ok = {
        "abs": kinds == [NUMBER],
        "min": len(kinds) >= 2 and set(kinds) == {NUMBER},
        "max": len(kinds) >= 2 and set(kinds) == {NUMBER},
        "round": kinds in ([NUMBER], [NUMBER, NUMBER]),
        "len": len(kinds) == 1 and (kinds[0] == STR or kinds[0].startswith(LIST)),
        "lower": kinds == [STR],
    }[name]
    if not ok:
        got = ", ".join(noun(k) for k in kinds) or "nothing"
        checker.fail(node, f"type error: expected {FUNCTIONS[name]}, got ({got})")
    return (STR if name == "lower" else NUMBER), f"_{name}({codes})"


def suggest(name: str, known: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or nothing."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
