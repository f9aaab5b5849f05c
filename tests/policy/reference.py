"""A straightforward tree-walking evaluator of the rule AST: the specification the compiled evaluator
is checked against. It reads the context's JSON form and the plan's field declarations directly, and
evaluates every rule (no index): rules are written guard-first, so the index may never change a result.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from aios.plan import Plan
from aios.plan.types import FieldDef, TypeKind
from aios.policy import ast
from aios.policy.context import parse_datetime

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STRENGTH = {"allow": 0, "require_approval": 1, "deny": 2}


class EvalError(Exception):
    pass


def _num(v: Any) -> int | float:
    if isinstance(v, bool) or v is None:
        raise EvalError(f"not a number: {v!r}")
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, str):
        try:
            return float(Decimal(v.strip()))
        except InvalidOperation:
            raise EvalError(f"not a number: {v!r}") from None
    raise EvalError(f"not a number: {v!r}")


def _date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip()[:10])
        except ValueError:
            raise EvalError(f"not a date: {v!r}") from None
    raise EvalError(f"not a date: {v!r}")


def _datetime(v: Any) -> dt.datetime:
    try:
        return parse_datetime(v, "value")
    except Exception as exc:
        raise EvalError(str(exc)) from None


class Reference:
    def __init__(self, plan: Plan, files: list[ast.PolicyFile]) -> None:
        self.plan = plan
        self.files = files

    # ---- reading the context --------------------------------------------------------------
    def _field(self, fields: dict[str, Any], defs: dict[str, FieldDef], name: str) -> Any:
        fd = defs[name]
        optional = fd.type.optional or not fd.required
        if name in fields:
            value = fields[name]
        elif optional:
            value = fd.default
        else:
            raise EvalError(f"missing field {name}")
        if value is None:
            return None
        kind = fd.type.kind
        if kind in (TypeKind.INT, TypeKind.DECIMAL):
            return _num(value)
        if kind is TypeKind.DATE:
            return _date(value)
        if kind is TypeKind.DATETIME:
            return _datetime(value)
        return value

    def path(self, parts: list[str], ctx: dict[str, Any]) -> Any:
        root, rest = parts[0], parts[1:]
        action = ctx["action"]
        if root == "actor":
            value: Any = ctx.get("actor", "operator")
        elif root == "now":
            value = _datetime(ctx["now"])
        elif root == "run":
            run = ctx.get("run") or {}
            name = rest.pop(0)
            defaults = {"id": "", "playbook": None, "cost_usd": 0.0, "steps_taken": 0, "started_at": ctx["now"]}
            value = run.get(name, defaults[name])
            if name == "started_at":
                value = _datetime(value if value is not None else ctx["now"])
            elif name == "cost_usd":
                value = _num(value)
        elif root == "record":
            record = ctx.get("record")
            name = rest.pop(0)
            if name in ("schema", "id"):
                value = None if record is None else record.get(name)
            else:
                if record is None:
                    raise EvalError("no record")
                defs = {fd.name: fd for fd in self.plan.schema_map[record["schema"]].fields}
                value = self._field(record.get("fields", {}), defs, name)
        else:
            name = rest.pop(0)
            if name == "input":
                field = rest.pop(0)
                conn = self.plan.connector_map[action["connector"]]
                defs = {fd.name: fd for fd in conn.input.fields}
                value = self._field(action.get("input", {}), defs, field)
            elif name == "side_effect":
                conn = self.plan.connector_map.get(action.get("connector") or "")
                if action.get("kind") != "connector":
                    value = "none"
                else:
                    value = (conn.side_effect.value if conn else None) or action.get("side_effect") or "irreversible"
            else:
                value = action.get(name)
        for part in rest:
            value = self.part(value, part)
        return value

    def part(self, value: Any, name: str) -> Any:
        if isinstance(value, dict):  # an untyped (`any`) value: a missing key reads as null
            return value.get(name)
        if not isinstance(value, (dt.date, dt.timedelta)):
            raise EvalError(f"cannot read {name} of {value!r}")
        if name == "weekday":
            return WEEKDAYS[value.weekday()]
        if name == "date":
            return value.date()
        if name in ("days", "hours", "minutes", "seconds"):
            div = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}[name]
            return value.total_seconds() / div
        return getattr(value, name)

    # ---- expressions ----------------------------------------------------------------------
    def eval(self, e: ast.Expr, ctx: dict[str, Any]) -> Any:  # noqa: C901 - one branch per node
        if isinstance(e, ast.Literal):
            return e.value
        if isinstance(e, (ast.Name, ast.Attr)):
            parts: list[str] = []
            node: ast.Expr = e
            while isinstance(node, ast.Attr):
                parts.insert(0, node.name)
                node = node.base
            assert isinstance(node, ast.Name)
            return self.path([node.id, *parts], ctx)
        if isinstance(e, ast.And):
            return self.eval(e.left, ctx) and self.eval(e.right, ctx)
        if isinstance(e, ast.Or):
            return self.eval(e.left, ctx) or self.eval(e.right, ctx)
        if isinstance(e, ast.Not):
            return not self.eval(e.operand, ctx)
        if isinstance(e, ast.Neg):
            return -self.eval(e.operand, ctx)
        if isinstance(e, ast.ListExpr):
            return [self.eval(i, ctx) for i in e.items]
        if isinstance(e, ast.In):
            item, container = self.eval(e.item, ctx), self.eval(e.container, ctx)
            try:
                found = item in container
            except TypeError as exc:
                raise EvalError(str(exc)) from None
            return not found if e.negated else found
        if isinstance(e, (ast.Compare, ast.Arith)):
            a, b = self.eval(e.left, ctx), self.eval(e.right, ctx)
            ops = {"==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b, "<=": lambda: a <= b,
                   ">": lambda: a > b, ">=": lambda: a >= b, "+": lambda: a + b, "-": lambda: a - b,
                   "*": lambda: a * b, "/": lambda: a / b, "%": lambda: a % b}
            try:
                return ops[e.op]()
            except (TypeError, ZeroDivisionError) as exc:
                raise EvalError(str(exc)) from None
        assert isinstance(e, ast.Call)
        args = [self.eval(a, ctx) for a in e.args]
        try:
            return self.call(e.func, args)
        except (TypeError, AttributeError, ValueError) as exc:
            raise EvalError(str(exc)) from None

    def call(self, func: str, args: list[Any]) -> Any:
        def s(v: Any) -> str:
            if not isinstance(v, str):
                raise EvalError("not a string")
            return v

        if func == "len":
            return len(args[0])
        if func in ("lower", "upper", "trim"):
            return {"lower": str.lower, "upper": str.upper, "trim": str.strip}[func](s(args[0]))
        if func == "matches":
            return re.search(args[1], s(args[0])) is not None
        if func == "starts_with":
            return s(args[0]).startswith(s(args[1]))
        if func == "ends_with":
            return s(args[0]).endswith(s(args[1]))
        if func == "contains":
            return args[1] in args[0]
        if func in ("abs", "min", "max"):
            return {"abs": abs, "min": min, "max": max}[func](*args)
        if func == "money":
            return _num(args[0])
        if func in ("days", "hours", "minutes"):
            return dt.timedelta(**{func: args[0]})
        if func == "date":
            return args[0].date() if isinstance(args[0], dt.datetime) else _date(args[0])
        if func == "weekday":
            return WEEKDAYS[args[0].weekday()]
        if func == "hour":
            return args[0].hour
        raise AssertionError(func)

    # ---- deciding ---------------------------------------------------------------------------
    def decide(self, ctx: dict[str, Any]) -> tuple[str, list[str], list[str]]:
        """(effect, deciding rule ids, errored rule ids)."""
        fired: list[tuple[str, str]] = []
        errored: list[str] = []
        for f in self.files:
            for rule in f.rules:
                rid, effect = f"{f.policy}.{rule.name}", rule.effect.effect.label
                try:
                    hit = rule.when is None or bool(self.eval(rule.when, ctx))
                except (EvalError, KeyError, AttributeError):
                    errored.append(rid)
                    hit = effect != "allow"
                if hit:
                    fired.append((rid, effect))
        if fired:
            top = max(STRENGTH[e] for _, e in fired)
            return [k for k, v in STRENGTH.items() if v == top][0], [r for r, e in fired if STRENGTH[e] == top], errored
        defaults = [f.default.effect.label for f in self.files if f.default is not None]
        if defaults:
            return max(defaults, key=STRENGTH.__getitem__), [], errored
        action = ctx["action"]
        if action.get("kind", "connector") != "connector":
            return "allow", [], errored
        conn = self.plan.connector_map.get(action["connector"])
        side = conn.side_effect.value if conn else (action.get("side_effect") or "irreversible")
        return ("allow" if side == "none" else "deny"), [], errored
