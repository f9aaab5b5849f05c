"""Type-check rule conditions against the plan and lower them to IR.

Field paths are resolved against the decision context as the plan types it; ``action.input`` and
``record.<field>`` are typed by the connector contract or schema the rule's own guards select (see
`aios.policy.facts`). Every problem is a positioned diagnostic; checking goes on after an error
(the failing sub-expression is typed ``any``), so one run reports all of them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aios.articles import a_or_an
from aios.diagnostics import DiagnosticSink
from aios.policy import ast, ir
from aios.policy import ptypes as T
from aios.policy.currencies import CURRENCIES
from aios.policy.env import SIDE_EFFECTS, FieldInfo, Path, TypingEnv
from aios.policy.facts import EMPTY, Facts, facts_of, path_of
from aios.policy.functions import FUNCTIONS, ArgError
from aios.policy.ptypes import TK, PType
from aios.span import Span

__all__ = ["CheckedCondition", "check_condition"]

_ALWAYS_NONNULL: frozenset[Path] = frozenset({("action", "kind")})
_PRESENT_FOR_KIND: dict[Path, str] = {("action", "connector"): "connector", ("action", "route"): "model"}
_ORDERED = ("number", "str", "duration", "date", "datetime")
_SET_LABELS = {
    "connector": "a declared connector", "schema": "a declared schema", "route": "a declared model route",
    "agent": "a declared agent", "playbook": "a declared playbook", "weekday": "a weekday",
    "action kind": "an action kind", "side effect": "a side effect",
}


@dataclass(frozen=True, slots=True)
class CheckedCondition:
    condition: ir.IR | None
    facts: Facts
    clauses: tuple[Span, ...]  # span of clause clause_base + i (coverage)
    ok: bool
    clause_base: int = 0
    # top-level clauses testing only action.kind/connector: (clause index, kinds, connectors)
    guards: tuple[tuple[int, frozenset[str] | None, frozenset[str] | None], ...] = ()


@dataclass(frozen=True, slots=True)
class _Obj:
    """A context object (``action``, ``action.input``, ``run``, ``record``): not a value itself."""

    name: str
    ir: ir.IR


_Resolved = _Obj | tuple[ir.IR, PType]


def check_condition(
    when: ast.Expr | None, env: TypingEnv, sink: DiagnosticSink, *, clause_base: int = 0,
) -> CheckedCondition:
    """Type-check ``when``; its clauses are numbered from ``clause_base`` (unique within a policy set)."""
    if when is None:
        return CheckedCondition(None, EMPTY, (), True, clause_base)
    checker = _Checker(env, sink, clause_base)
    condition = checker.cond(when, EMPTY, top=True)
    facts = facts_of(when, env.universes)
    if checker.ok:
        for path in facts.empty_paths():
            if path in facts.nonnull or path in _ALWAYS_NONNULL:
                checker.fail("rule-never-matches", f"this condition can never hold: no value of `{'.'.join(path)}` "
                             "satisfies all of its guards", when.span,
                             hint="the guards contradict each other; check the `==`, `!=` and `in` tests")
                break
    return CheckedCondition(condition, facts, tuple(checker.clauses), checker.ok, clause_base, tuple(checker.guards))


def _close(name: str, options: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(name, sorted(set(options)), n=1, cutoff=0.6)
    return found[0] if found else None


def _did_you_mean(name: str, options: Iterable[str]) -> str:
    close = _close(name, options)
    return f"; did you mean `{close}`?" if close else ""


def _coerce(node: ir.IR, t: PType) -> ir.IR:
    if t.kind in T.NUMERIC:
        return ir.Coerce("num", node, t.optional)
    if t.kind is TK.DATE:
        return ir.Coerce("date", node, t.optional)
    if t.kind is TK.DATETIME:
        return ir.Coerce("datetime", node, t.optional)
    if t.kind is TK.ANY:
        return ir.Call("checked", (node,))  # an untyped value may be a non-finite number: an error
    return node


class _Checker:
    def __init__(self, env: TypingEnv, sink: DiagnosticSink, clause_base: int) -> None:
        self.env = env
        self.sink = sink
        self.clause_base = clause_base
        self.ok = True
        self.clauses: list[Span] = []
        self.guards: list[tuple[int, frozenset[str] | None, frozenset[str] | None]] = []

    def fail(self, code: str, message: str, span: Span, hint: str | None = None) -> tuple[ir.IR, PType]:
        self.ok = False
        self.sink.report(code, message, span, hint=hint)
        return ir.Const(None), T.ANY

    # ---- boolean positions ------------------------------------------------------------------
    def cond(self, node: ast.Expr, facts: Facts, top: bool = False) -> ir.IR:
        if isinstance(node, ast.And):
            left = self.cond(node.left, facts, top)
            right = self.cond(node.right, facts.conj(facts_of(node.left, self.env.universes)), top)
            return ir.BoolOp("and", left, right)
        if isinstance(node, ast.Or):
            left = self.cond(node.left, facts)
            right = self.cond(node.right, facts.conj(facts_of(node.left, self.env.universes, negate=True)))
            return ir.BoolOp("or", left, right)
        if isinstance(node, ast.Not):
            return ir.Unary("not", self.cond(node.operand, facts))
        code, t = self.expr(node, facts)
        if t.kind not in (TK.BOOL, TK.ANY):
            self.fail("rule-type-mismatch", f"a condition must be true or false, but `{ast.unparse(node)}` is "
                      f"{t.show()}", node.span, hint="compare it, e.g. `x == \"value\"` or `x > 0`")
        elif t.kind is TK.BOOL and t.optional:
            self.fail("rule-nullable", f"`{ast.unparse(node)}` may be null, which is neither true nor false",
                      node.span, hint=f"write `{ast.unparse(node)} == true`")
        index = self.clause_base + len(self.clauses)
        self.clauses.append(node.span)
        if top:
            self._note_guard(index, node)
        return ir.Clause(index, code)

    def _note_guard(self, index: int, node: ast.Expr) -> None:
        """A top-level clause that only tests action.kind / action.connector: the rule index evaluates it
        for free (the rule is skipped when it is false), so coverage computes it from the index."""
        if not (isinstance(node, ast.Compare) and node.op == "==") and not (
                isinstance(node, ast.In) and not node.negated):
            return
        f = facts_of(node, self.env.universes)
        kinds, connectors = f.get(("action", "kind")), f.get(("action", "connector"))
        if set(f.sets) <= {("action", "kind"), ("action", "connector")} and f.sets:
            self.guards.append((index, kinds, connectors))

    # ---- values -----------------------------------------------------------------------------
    def expr(self, node: ast.Expr, facts: Facts) -> tuple[ir.IR, PType]:
        if isinstance(node, (ast.And, ast.Or, ast.Not)):
            return self.cond(node, facts), T.BOOL
        if isinstance(node, ast.Literal):
            return self.literal(node)
        if isinstance(node, (ast.Name, ast.Attr)):
            resolved = self.resolve(node, facts)
            if isinstance(resolved, _Obj):
                return self.fail("rule-type-mismatch", f"`{ast.unparse(node)}` is not a value; read one of its "
                                 f"fields: {', '.join(self.members(resolved))}", node.span)
            return resolved
        if isinstance(node, ast.Call):
            return self.call(node, facts)
        if isinstance(node, ast.ListExpr):
            return self.list(node, facts)
        if isinstance(node, ast.Neg):
            code, t = self.expr(node.operand, facts)
            self.need_value(t, node.operand)
            if t.kind not in (TK.INT, TK.NUM, TK.MONEY, TK.DURATION, TK.ANY):
                return self.fail("rule-type-mismatch", f"cannot negate {t.show()}", node.span)
            return ir.Unary("-", code), t.required()
        if isinstance(node, ast.Arith):
            return self.arith(node, facts)
        if isinstance(node, ast.Compare):
            return self.compare(node, facts)
        assert isinstance(node, ast.In)
        return self.contains(node, facts)

    def literal(self, node: ast.Literal) -> tuple[ir.IR, PType]:
        k = node.kind
        if k is ast.LitKind.NUMBER:
            return ir.Const(node.value), T.INT if isinstance(node.value, int) else T.NUM
        if k is ast.LitKind.MONEY:
            if node.currency not in CURRENCIES:
                return ir.Const(node.value), T.ANY  # reported by the parser
            return ir.Const(node.value), T.money(node.currency)
        t = {ast.LitKind.STRING: T.STR, ast.LitKind.BOOL: T.BOOL, ast.LitKind.NULL: T.NULL,
             ast.LitKind.DURATION: T.DURATION, ast.LitKind.DATE: T.DATE, ast.LitKind.DATETIME: T.DATETIME}[k]
        return ir.Const(node.value), t

    def need_value(self, t: PType, node: ast.Expr) -> bool:
        """Report a nullable operand where a value is required. True when fine."""
        if t.optional and t.kind not in (TK.ANY,):
            text = ast.unparse(node)
            what = "null" if t.kind is TK.NULL else f"`{text}`, which may be null,"
            self.fail("rule-nullable", f"cannot use {what} here", node.span,
                      hint=None if t.kind is TK.NULL else f"guard it first: `{text} != null and …`")
            return False
        return True

    # ---- context paths ----------------------------------------------------------------------
    def members(self, obj: _Obj) -> list[str]:
        if obj.name == "action":
            return [*self.env.action_fields, "input"]
        if obj.name == "run":
            return list(self.env.run_fields)
        if obj.name == "record":
            return [*self.env.record_meta, "<field of the schema>"]
        return ["<field of the connector's input>"]

    def resolve(self, node: ast.Name | ast.Attr, facts: Facts) -> _Resolved:
        if isinstance(node, ast.Name):
            if node.id == "actor":
                return ir.GetAttr(ir.CTX, "actor"), T.STR
            if node.id == "now":
                return ir.GetAttr(ir.CTX, "now"), T.DATETIME
            if node.id in ("action", "run", "record"):
                return _Obj(node.id, ir.GetAttr(ir.CTX, node.id))
            if node.id in FUNCTIONS:
                return self.fail("rule-unknown-name", f"`{node.id}` is a function; call it: `{node.id}(…)`", node.span)
            hint = None
            if node.id in T.WEEKDAYS or node.id in self.env.universes.get(("action", "kind"), ()):
                hint = f'strings are written in double quotes: "{node.id}"'
            return self.fail("rule-unknown-name", f"unknown name `{node.id}`"
                             f"{_did_you_mean(node.id, ('action', 'run', 'record', 'actor', 'now'))}",
                             node.span, hint=hint or "a rule reads action, run, record, actor and now")
        base: _Resolved
        if isinstance(node.base, (ast.Name, ast.Attr)):
            base = self.resolve(node.base, facts)
        else:
            base = self.expr(node.base, facts)
        if isinstance(base, _Obj):
            return self.member(base, node, facts)
        return self.part(base[0], base[1], node)

    def _narrow(self, node: ast.Expr, t: PType, facts: Facts) -> PType:
        path = path_of(node)
        if not t.optional or path is None:
            return t
        if path in facts.nonnull:
            return t.required()
        owner = _PRESENT_FOR_KIND.get(path)  # a connector action always names its connector, a model call its route
        if owner is not None and facts.get(("action", "kind")) == frozenset({owner}):
            return t.required()
        return t

    def member(self, obj: _Obj, node: ast.Attr, facts: Facts) -> _Resolved:
        name = node.name
        if obj.name == "action":
            if name == "input":
                return _Obj("action.input", ir.GetAttr(obj.ir, "input"))
            if name == "side_effect":  # the plan's contract is authoritative, as for the default decision
                return (ir.Call("side_effect", (obj.ir, ir.Const(self.env.side_effects))),
                        T.str_of(SIDE_EFFECTS, "side effect"))
            t = self.env.action_fields.get(name)
            if t is None:
                return self.fail("rule-unknown-field", f"`action` has no field `{name}`"
                                 f"{_did_you_mean(name, self.members(obj))}", node.name_span,
                                 hint=f"action fields: {', '.join(self.members(obj))}")
            return ir.GetAttr(obj.ir, name), self._narrow(node, t, facts)
        if obj.name == "run":
            t = self.env.run_fields.get(name)
            if t is None:
                return self.fail("rule-unknown-field", f"`run` has no field `{name}`"
                                 f"{_did_you_mean(name, self.env.run_fields)}", node.name_span,
                                 hint=f"run fields: {', '.join(self.env.run_fields)}")
            return ir.GetAttr(obj.ir, name), self._narrow(node, t, facts)
        if obj.name == "record":
            if name in self.env.record_meta:
                return ir.GetAttr(obj.ir, name), self._narrow(node, self.env.record_meta[name], facts)
            return self.typed_field(node, facts, ("record", "schema"), self.env.schemas, ir.GetAttr(obj.ir, "fields"),
                                    "schema", "record.schema")
        return self.typed_field(node, facts, ("action", "connector"), self.env.connector_inputs, obj.ir,
                                "connector", "action.connector")

    def typed_field(
        self, node: ast.Attr, facts: Facts, guard: Path, owners: Mapping[str, Mapping[str, FieldInfo]],
        base: ir.IR, what: str, guard_text: str,
    ) -> tuple[ir.IR, PType]:
        name = node.name
        known_here = [o for o in sorted(owners) if name in owners[o]]
        selected = facts.get(guard)
        guarded = selected is not None and (guard in facts.nonnull or (
            guard == ("action", "connector") and facts.get(("action", "kind")) == frozenset({"connector"})))
        if not guarded or selected is None:
            if not known_here:
                every = sorted({f for fields in owners.values() for f in fields})
                extra = ["schema", "id"] if what == "schema" else []
                return self.fail("rule-unknown-field", f"no {what} declares a field `{name}`"
                                 f"{_did_you_mean(name, [*every, *extra])}", node.name_span)
            example = known_here[0]
            return self.fail(
                "rule-unguarded-field",
                f"`{ast.unparse(node)}` depends on the {what}; say which one before reading it",
                node.span,
                hint=f'e.g. `{guard_text} == "{example}" and …` ({what}s with `{name}`: {", ".join(known_here)})',
            )
        infos: list[tuple[str, FieldInfo]] = []
        for owner in sorted(selected):
            fields = owners.get(owner)
            if fields is None:
                continue  # an unknown name was reported where it was written
            info = fields.get(name)
            if info is None:
                return self.fail("rule-unknown-field", f"{what} `{owner}` has no field `{name}`"
                                 f"{_did_you_mean(name, fields)}", node.name_span,
                                 hint=f"`{owner}` declares: {', '.join(fields) or 'no fields'}")
            infos.append((owner, info))
        if not infos:
            return ir.Const(None), T.ANY
        first_owner, first = infos[0]
        for owner, info in infos[1:]:
            if info.type.required() != first.type.required():
                return self.fail("rule-type-mismatch", f"`{name}` is {first.type.show()} in `{first_owner}` but "
                                 f"{info.type.show()} in `{owner}`", node.name_span,
                                 hint=f"guard the rule on one {what} at a time")
        if all(i.mode == "required" for _, i in infos):
            mode, default = "required", None
        elif len(infos) == 1 and first.mode == "default":
            mode, default = "default", first.default
        else:
            mode, default = "optional", None
        t = first.type.nullable() if mode == "optional" else first.type.required()
        t = self._narrow(node, t, facts)
        return _coerce(ir.Item(base, name, mode, default), t), t

    def part(self, base: ir.IR, t: PType, node: ast.Attr) -> tuple[ir.IR, PType]:
        name = node.name
        if t.kind is TK.ANY:
            return ir.Dyn(base, name), T.ANY
        parts: dict[str, PType] = {}
        if t.kind is TK.DATETIME:
            parts = {"year": T.INT, "month": T.INT, "day": T.INT, "hour": T.INT, "minute": T.INT,
                     "weekday": T.str_of(T.WEEKDAYS, "weekday"), "date": T.DATE}
        elif t.kind is TK.DATE:
            parts = {"year": T.INT, "month": T.INT, "day": T.INT, "weekday": T.str_of(T.WEEKDAYS, "weekday")}
        elif t.kind is TK.DURATION:
            parts = {"days": T.NUM, "hours": T.NUM, "minutes": T.NUM, "seconds": T.NUM}
        if not parts:
            return self.fail("rule-type-mismatch", f"`{ast.unparse(node.base)}` is {t.show()}; it has no field "
                             f"`{name}`", node.name_span)
        if name not in parts:
            return self.fail("rule-unknown-field", f"{t.kind.value} has no field `{name}`"
                             f"{_did_you_mean(name, parts)}", node.name_span,
                             hint=f"{t.kind.value} fields: {', '.join(parts)}")
        if not self.need_value(t, node.base):
            return ir.Const(None), T.ANY
        return ir.Part(base, name), parts[name]

    # ---- operators --------------------------------------------------------------------------
    def check_values(self, t: PType, other: ast.Expr) -> None:
        """A literal compared with a closed set (connector names, enum values) must belong to it."""
        if t.values is None:
            return
        items = other.items if isinstance(other, ast.ListExpr) else (other,)
        for item in items:
            if isinstance(item, ast.Literal) and item.kind is ast.LitKind.STRING:
                value = item.value
                assert isinstance(value, str)
                if value not in t.values and (t.label, value) not in self.env.broken:
                    label = t.label or "enum"
                    what = _SET_LABELS.get(label, f"one of {', '.join(sorted(t.values))}")
                    self.fail("rule-unknown-value", f'"{value}" is not {what}{_did_you_mean(value, t.values)}',
                              item.span, hint=None if label not in _SET_LABELS or len(t.values) > 12
                              else f"expected one of: {', '.join(sorted(t.values))}")

    def currency_clash(self, a: PType, b: PType, span: Span) -> bool:
        if a.kind is TK.MONEY and b.kind is TK.MONEY and a.currency != b.currency:
            self.fail("rule-currency-mismatch", f"cannot combine {a.currency} and {b.currency} amounts", span,
                      hint="amounts in different currencies never compare; convert explicitly with money(x, \"…\")")
            return True
        return False

    def compare(self, node: ast.Compare, facts: Facts) -> tuple[ir.IR, PType]:
        lcode, lt = self.expr(node.left, facts)
        rcode, rt = self.expr(node.right, facts)
        self.check_values(lt, node.right)
        self.check_values(rt, node.left)
        out = ir.Binary(node.op, lcode, rcode)
        if lt.kind is TK.ANY or rt.kind is TK.ANY:
            return out, T.BOOL
        if node.op in ("==", "!="):
            if TK.NULL in (lt.kind, rt.kind):
                return out, T.BOOL
        else:
            if not (self.need_value(lt, node.left) and self.need_value(rt, node.right)):
                return out, T.BOOL
            if lt.family not in _ORDERED:
                return self.fail("rule-type-mismatch", f"`{node.op}` cannot order {lt.show()} values", node.op_span)[0], T.BOOL
        if self.currency_clash(lt, rt, node.op_span):
            return out, T.BOOL
        if lt.family != rt.family or (lt.kind is TK.LIST and not _list_comparable(lt, rt)):
            hint = None
            if {lt.kind, rt.kind} == {TK.DATE, TK.DATETIME}:
                hint = "compare dates with dates: `.date` gives the date of a date-time"
            elif TK.STR in (lt.kind, rt.kind) and {lt.kind, rt.kind} & {TK.DATE, TK.DATETIME}:
                hint = "date literals are written without quotes: 2025-05-01"
            elif TK.DURATION in (lt.kind, rt.kind) and lt.numeric != rt.numeric:
                hint = "durations are written with a unit: 30m, 2h, 7d"
            self.fail("rule-type-mismatch", f"cannot compare {lt.show()} with {rt.show()}", node.op_span, hint=hint)
        return out, T.BOOL

    def contains(self, node: ast.In, facts: Facts) -> tuple[ir.IR, PType]:
        icode, it = self.expr(node.item, facts)
        ccode, ct = self.expr(node.container, facts)
        self.check_values(it, node.container)
        out = ir.Contains(icode, ccode, node.negated)
        if ct.kind is TK.ANY:
            return out, T.BOOL
        if not self.need_value(ct, node.container):
            return out, T.BOOL
        if ct.kind is TK.STR:
            if it.kind not in (TK.STR, TK.ANY):
                self.fail("rule-type-mismatch", f"`in` a string looks for a substring, not {it.show()}", node.span)
            elif self.need_value(it, node.item):
                return out, T.BOOL
            return out, T.BOOL
        if ct.kind is not TK.LIST:
            return self.fail("rule-type-mismatch", f"`in` needs a list or a string on its right, not {ct.show()}",
                             node.container.span)[0], T.BOOL
        elem = ct.item or T.ANY
        if TK.ANY in (it.kind, elem.kind) or TK.NULL in (it.kind, elem.kind):
            return out, T.BOOL
        if self.currency_clash(it, elem, node.span):
            return out, T.BOOL
        if it.family != elem.family:
            self.fail("rule-type-mismatch", f"cannot look for {it.show()} in {a_or_an(ct.show())}", node.span)
        return out, T.BOOL

    def arith(self, node: ast.Arith, facts: Facts) -> tuple[ir.IR, PType]:
        lcode, lt = self.expr(node.left, facts)
        rcode, rt = self.expr(node.right, facts)
        out = ir.Binary(node.op, lcode, rcode)
        if not (self.need_value(lt, node.left) and self.need_value(rt, node.right)):
            return out, T.ANY
        if TK.ANY in (lt.kind, rt.kind):
            return out, T.ANY
        if self.currency_clash(lt, rt, node.op_span):
            return out, T.ANY
        result = _arith_type(node.op, lt, rt)
        if result is None:
            return self.fail("rule-type-mismatch", f"cannot apply `{node.op}` to {lt.show()} and {rt.show()}",
                             node.op_span)[0], T.ANY
        return out, result

    def list(self, node: ast.ListExpr, facts: Facts) -> tuple[ir.IR, PType]:
        codes: list[ir.IR] = []
        elem: PType | None = None
        for item in node.items:
            code, t = self.expr(item, facts)
            codes.append(code)
            if t.kind in (TK.ANY, TK.NULL):
                continue
            if elem is None:
                elem = t.required()
            elif t.family != elem.family:
                self.fail("rule-type-mismatch", f"a list holds values of one type; this is {t.show()}, the first "
                          f"was {elem.show()}", item.span)
            elif self.currency_clash(elem, t, item.span):
                pass
            elif elem.kind is TK.INT and t.kind in (TK.NUM, TK.MONEY):
                elem = t.required()
        if elem is not None and elem.values is not None:
            elem = PType(elem.kind, currency=elem.currency)
        return ir.ListLit(tuple(codes)), T.list_of(elem or T.ANY)

    def call(self, node: ast.Call, facts: Facts) -> tuple[ir.IR, PType]:
        sig = FUNCTIONS.get(node.func)
        if sig is None:
            hint = None
            if node.func in ("action", "run", "record", "actor", "now"):
                hint = f"`{node.func}` is part of the context, not a function: drop the parentheses"
            return self.fail("rule-unknown-function", f"unknown function `{node.func}`"
                             f"{_did_you_mean(node.func, FUNCTIONS)}", node.func_span,
                             hint=hint or f"built-ins: {', '.join(sorted(FUNCTIONS))}")
        if not sig.min_args <= len(node.args) <= sig.max_args:
            want = str(sig.min_args) if sig.min_args == sig.max_args else f"{sig.min_args} to {sig.max_args}"
            return self.fail("rule-arity", f"`{node.func}` takes {want} argument{'s' if sig.max_args > 1 else ''}, "
                             f"got {len(node.args)}", node.span, hint=f"{node.func}: {sig.doc}")
        codes: list[ir.IR] = []
        types: list[PType] = []
        lits: list[object] = []
        for arg in node.args:
            code, t = self.expr(arg, facts)
            codes.append(code)
            types.append(t)
            lits.append(arg.value if isinstance(arg, ast.Literal) else None)
        for arg, t in zip(node.args, types, strict=True):
            if not self.need_value(t, arg):
                return ir.Const(None), T.ANY
        try:
            return sig.lower(codes, types, lits)
        except ArgError as err:
            span = node.args[err.index].span if err.index is not None else node.span
            return self.fail(err.code, f"`{node.func}` {err.message}", span, hint=f"{node.func}: {sig.doc}")


def _list_comparable(a: PType, b: PType) -> bool:
    ai, bi = a.item or T.ANY, b.item or T.ANY
    return TK.ANY in (ai.kind, bi.kind) or ai.family == bi.family


def _arith_type(op: str, a: PType, b: PType) -> PType | None:  # noqa: C901 - the arithmetic table
    ka, kb = a.kind, b.kind
    num = (TK.INT, TK.NUM)
    if ka in num and kb in num:
        if op == "/" or TK.NUM in (ka, kb):
            return T.NUM
        return T.INT
    if TK.MONEY in (ka, kb):
        money = a if ka is TK.MONEY else b
        other = b if ka is TK.MONEY else a
        if op in "+-" and other.kind in (*num, TK.MONEY):
            return money.required()
        if op == "*" and other.kind in num:
            return money.required()
        if op == "/" and ka is TK.MONEY and kb in num:
            return money.required()
        if op == "/" and ka is TK.MONEY and kb is TK.MONEY:
            return T.NUM
        return None
    if ka is TK.DURATION or kb is TK.DURATION:
        if ka is TK.DURATION and kb is TK.DURATION:
            return T.DURATION if op in "+-" else T.NUM if op == "/" else None
        if op == "*" and (ka in num or kb in num):
            return T.DURATION
        if op == "/" and ka is TK.DURATION and kb in num:
            return T.DURATION
        if op in "+-" and ka in (TK.DATETIME, TK.DATE):
            return a.required()
        if op == "+" and kb in (TK.DATETIME, TK.DATE):
            return b.required()
        return None
    if op == "-" and ka == kb and ka in (TK.DATE, TK.DATETIME):
        return T.DURATION
    if op == "+" and ka == kb and ka in (TK.STR, TK.LIST):
        return T.STR if ka is TK.STR else T.list_of(a.item or T.ANY)
    return None
