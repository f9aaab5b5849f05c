"""Lower checked rule conditions (IR) to Python source and compile it once per policy set.

One function per rule, ``def _rN(ctx): return <expr>``, so a decision costs a few attribute reads and
comparisons per relevant rule. Non-trivial constants (dates, durations, sets, compiled regexes) are
bound as module globals; strings and numbers are written with ``repr``. Arithmetic results pass
through ``finite`` (see runtime.py), so a rule never goes on with NaN or an infinity. The coverage
build wraps each clause in ``_clause(i, value)`` and each rule in ``_rule(i, value)``, which record
whether it was seen true and false.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from aios.policy import ir
from aios.policy.context import DecisionContext
from aios.policy.runtime import HELPERS

__all__ = ["RuleFn", "generate", "CoverageRecorder"]

RuleFn = Callable[[DecisionContext], bool]

_DURATION_DIVISORS = {"days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0}
_ATTR_PARTS = {"hour", "minute", "year", "month", "day"}
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})  # results checked: overflow and inf - inf are errors


class CoverageRecorder:
    """What a coverage build saw. ``clauses[i]``: bit 1 seen true, bit 2 seen false. ``rules[i]``: how
    often the i-th generated rule function ran, and how often its condition held."""

    def __init__(self, clauses: int) -> None:
        self.clauses = [0] * clauses
        self.evaluated: list[int] = []
        self.fired: list[int] = []

    def clause(self, index: int, value: Any) -> Any:
        self.clauses[index] |= 1 if value else 2
        return value

    def rule(self, index: int, value: Any) -> Any:
        self.evaluated[index] += 1
        if value:
            self.fired[index] += 1
        return value


class _Gen:
    def __init__(self, coverage: bool) -> None:
        self.coverage = coverage
        self.globals: dict[str, Any] = {}
        self._const_names: dict[tuple[type, object], str] = {}

    def const(self, value: object) -> str:
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        key = (type(value), value)
        try:
            name = self._const_names.get(key)
        except TypeError:
            name = None
        if name is None:
            name = f"_k{len(self.globals)}"
            self.globals[name] = value
            with contextlib.suppress(TypeError):  # unhashable constants are bound once per use
                self._const_names[key] = name
        return name

    def helper(self, name: str) -> str:
        alias = f"_h_{name}"
        self.globals[alias] = HELPERS[name]
        return alias

    def gen(self, node: ir.IR) -> str:  # noqa: C901 - one branch per node type
        if isinstance(node, ir.Const):
            return self.const(node.value)
        if isinstance(node, ir.Ctx):
            return "ctx"
        if isinstance(node, ir.GetAttr):
            return f"{self.gen(node.base)}.{node.name}"
        if isinstance(node, ir.Item):
            base = self.gen(node.base)
            if node.mode == "required":
                return f"{base}[{node.key!r}]"
            if node.mode == "default":
                return f"{base}.get({node.key!r}, {self.const(node.default)})"
            return f"{base}.get({node.key!r})"
        if isinstance(node, ir.Coerce):
            name = node.to + ("_opt" if node.optional else "")
            return f"{self.helper(name)}({self.gen(node.arg)})"
        if isinstance(node, ir.Dyn):
            return f"{self.helper('dyn')}({self.gen(node.base)}, {node.key!r})"
        if isinstance(node, ir.Part):
            base = self.gen(node.base)
            if node.part == "weekday":
                return f"{self.helper('WEEKDAYS')}[({base}).weekday()]"
            if node.part == "date":
                return f"{self.helper('date_of')}({base})"
            if node.part in _ATTR_PARTS:
                return f"({base}).{node.part}"
            return f"(({base}).total_seconds() / {_DURATION_DIVISORS[node.part]!r})"
        if isinstance(node, ir.Unary):
            return f"(not {self.gen(node.operand)})" if node.op == "not" else f"(-{self.gen(node.operand)})"
        if isinstance(node, ir.Binary):
            text = f"({self.gen(node.left)} {node.op} {self.gen(node.right)})"
            return f"{self.helper('finite')}{text}" if node.op in _ARITHMETIC else text
        if isinstance(node, ir.BoolOp):
            return f"({self.gen(node.left)} {node.op} {self.gen(node.right)})"
        if isinstance(node, ir.Contains):
            op = "not in" if node.negated else "in"
            return f"({self.gen(node.item)} {op} {self.gen(node.container)})"
        if isinstance(node, ir.ListLit):
            if all(isinstance(i, ir.Const) for i in node.items):
                values = [i.value for i in node.items if isinstance(i, ir.Const)]
                try:
                    return self.const(frozenset(values))
                except TypeError:
                    pass
            inner = ", ".join(self.gen(i) for i in node.items)
            return f"({inner}{',' if len(node.items) == 1 else ''})"
        if isinstance(node, ir.Call):
            args = ", ".join(self.gen(a) for a in node.args)
            return f"{self.helper(node.func)}({args})"
        if isinstance(node, ir.Regex):
            pattern = self.const(re.compile(node.pattern))
            return f"({pattern}.search({self.gen(node.arg)}) is not None)"
        if isinstance(node, ir.Clause):
            inner = self.gen(node.expr)
            return f"_clause({node.index}, {inner})" if self.coverage else inner
        raise TypeError(f"unknown IR node {node!r}")


def generate(
    conditions: Sequence[ir.IR | None], *, filename: str, coverage: CoverageRecorder | None = None,
) -> tuple[list[RuleFn], str]:
    """Compile one function per condition (None: an unconditional rule). Returns them and the source."""
    gen = _Gen(coverage is not None)
    lines = ["# generated from policies/*.rules; do not edit"]
    for i, cond in enumerate(conditions):
        body = "True" if cond is None else gen.gen(cond)
        if coverage is not None:
            body = f"_rule({i}, {body})"
        lines.append(f"def _r{i}(ctx):\n    return {body}\n")
    source = "\n".join(lines)
    namespace: dict[str, Any] = dict(gen.globals)
    namespace["__builtins__"] = {}
    if coverage is not None:
        coverage.evaluated = [0] * len(conditions)
        coverage.fired = [0] * len(conditions)
        namespace["_clause"] = coverage.clause
        namespace["_rule"] = coverage.rule
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - source generated from checked IR
    return [namespace[f"_r{i}"] for i in range(len(conditions))], source
