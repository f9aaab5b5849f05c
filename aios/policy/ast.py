"""The rule AST: frozen nodes, each with the span of the source it came from.

Built by `aios.policy.parser` from Lark's tree; read by the checker and the test-only reference
evaluator. Literal values are already decoded (dates, durations, money) but not yet typed.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from aios.policy.decision import Effect
from aios.span import Span

__all__ = [
    "Effect", "LitKind", "Literal", "Name", "Attr", "Call", "ListExpr", "Neg", "Arith", "Compare",
    "In", "Not", "And", "Or", "Expr", "EffectSpec", "Rule", "PolicyFile", "walk", "unparse", "LitValue",
]


class LitKind(enum.Enum):
    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"
    NULL = "null"
    MONEY = "money"
    DURATION = "duration"
    DATE = "date"
    DATETIME = "datetime"


LitValue = int | float | str | bool | None | dt.timedelta | dt.date | dt.datetime


@dataclass(frozen=True, slots=True)
class Literal:
    kind: LitKind
    value: LitValue
    span: Span = field(compare=False)
    currency: str | None = None  # MONEY only


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Attr:
    base: Expr
    name: str
    span: Span = field(compare=False)
    name_span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span = field(compare=False)
    func_span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Arith:
    op: str  # + - * / %
    left: Expr
    right: Expr
    span: Span = field(compare=False)
    op_span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    span: Span = field(compare=False)
    op_span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class In:
    item: Expr
    container: Expr
    negated: bool
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class And:
    left: Expr
    right: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    left: Expr
    right: Expr
    span: Span = field(compare=False)


Expr = Literal | Name | Attr | Call | ListExpr | Neg | Arith | Compare | In | Not | And | Or


@dataclass(frozen=True, slots=True)
class EffectSpec:
    effect: Effect
    reason: str | None
    span: Span = field(compare=False)
    approvers: tuple[str, ...] = ()
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    when: Expr | None
    effect: EffectSpec
    span: Span = field(compare=False)
    name_span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """One parsed ``.rules`` file. With syntax errors, holds the statements that did parse."""

    path: str
    policy: str  # from `policy NAME`, else the file stem
    rules: tuple[Rule, ...]
    default: EffectSpec | None = None
    policy_span: Span | None = field(default=None, compare=False)
    complete: bool = True  # False when syntax errors dropped some statements


def walk(expr: Expr) -> list[Expr]:
    """Every node of an expression, pre-order."""
    out: list[Expr] = []
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, Attr):
            stack.append(node.base)
        elif isinstance(node, Call):
            stack.extend(reversed(node.args))
        elif isinstance(node, ListExpr):
            stack.extend(reversed(node.items))
        elif isinstance(node, (Neg, Not)):
            stack.append(node.operand)
        elif isinstance(node, (Arith, Compare, And, Or)):
            stack.extend((node.right, node.left))
        elif isinstance(node, In):
            stack.extend((node.container, node.item))
    return out


_PRECEDENCE = {Or: 1, And: 2, Not: 3, Compare: 4, In: 4, Arith: 5, Neg: 7}


def _lit_text(node: Literal) -> str:
    v = node.value
    if node.kind is LitKind.STRING:
        assert isinstance(v, str)
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    if node.kind is LitKind.BOOL:
        return "true" if v else "false"
    if node.kind is LitKind.NULL:
        return "null"
    if node.kind is LitKind.MONEY:
        return f"{v} {node.currency}"
    if node.kind is LitKind.DURATION:
        assert isinstance(v, dt.timedelta)
        seconds = v.total_seconds()
        for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if seconds and seconds % size == 0:
                return f"{int(seconds // size)}{unit}"
        return f"{int(seconds * 1000)}ms"
    if node.kind in (LitKind.DATE, LitKind.DATETIME):
        assert isinstance(v, (dt.date, dt.datetime))
        return v.isoformat()
    return repr(v)


def unparse(expr: Expr) -> str:
    """Source text for an expression (normalised spacing, minimal parentheses)."""
    def wrap(child: Expr, parent_level: int) -> str:
        text = unparse(child)
        level = _PRECEDENCE.get(type(child), 9)
        return f"({text})" if level <= parent_level and level < 9 else text

    if isinstance(expr, Literal):
        return _lit_text(expr)
    if isinstance(expr, Name):
        return expr.id
    if isinstance(expr, Attr):
        return f"{wrap(expr.base, 8)}.{expr.name}"
    if isinstance(expr, Call):
        return f"{expr.func}({', '.join(unparse(a) for a in expr.args)})"
    if isinstance(expr, ListExpr):
        return f"[{', '.join(unparse(a) for a in expr.items)}]"
    if isinstance(expr, Neg):
        return f"-{wrap(expr.operand, 7)}"
    if isinstance(expr, Not):
        return f"not {wrap(expr.operand, 2)}"
    if isinstance(expr, Arith):
        level = 6 if expr.op in "*/%" else 5
        return f"{wrap(expr.left, level - 1)} {expr.op} {wrap(expr.right, level)}"
    if isinstance(expr, Compare):
        return f"{wrap(expr.left, 4)} {expr.op} {wrap(expr.right, 4)}"
    if isinstance(expr, In):
        return f"{wrap(expr.item, 4)} {'not in' if expr.negated else 'in'} {wrap(expr.container, 4)}"
    if isinstance(expr, And):
        return f"{wrap(expr.left, 1)} and {wrap(expr.right, 2)}"
    return f"{wrap(expr.left, 0)} or {wrap(expr.right, 1)}"
