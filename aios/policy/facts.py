"""Narrowing facts: what a condition guarantees when it holds.

``action.connector == "supplier.order" and action.input.amount_eur > 500`` reads ``amount_eur`` only
after the connector is known, so the checker types ``action.input`` by that one contract. The same
facts index compiled rules by action kind and connector, and let the linter see that one rule
implies another. `reach_of` asks which actions a rule can match as the interpreter builds them (a
record only on record writes), for compile-time warnings about approval paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aios.policy import ast
from aios.policy.env import Path

__all__ = ["Facts", "EMPTY", "ANY_ACTION", "Reach", "path_of", "facts_of", "reach_of"]


@dataclass(frozen=True, slots=True)
class Facts:
    """``sets[path]``: the only values the path can have; ``nonnull``: paths known not to be null."""

    sets: Mapping[Path, frozenset[str]]
    nonnull: frozenset[Path] = frozenset()

    def get(self, path: Path) -> frozenset[str] | None:
        return self.sets.get(path)

    def conj(self, other: Facts) -> Facts:
        sets = dict(self.sets)
        for path, values in other.sets.items():
            sets[path] = sets[path] & values if path in sets else values
        return Facts(sets, self.nonnull | other.nonnull)

    def disj(self, other: Facts) -> Facts:
        sets = {p: self.sets[p] | other.sets[p] for p in self.sets.keys() & other.sets.keys()}
        return Facts(sets, self.nonnull & other.nonnull)

    def empty_paths(self) -> list[Path]:
        return [p for p, v in self.sets.items() if not v]


EMPTY = Facts({})

# A known connector means a connector action; a known route, model or agent means a model call.
_IMPLIES_KIND: dict[Path, str] = {("action", "connector"): "connector", ("action", "route"): "model",
                 ("action", "model"): "model", ("action", "agent"): "model"}
# The interpreter also sets `record` only when the action writes that record (`for_record`), and
# `action.connector` / `action.route` only on their own kind. A decision context given as JSON (policy
# tests, `aios policy eval`) may combine them, so the rule index keeps to `_IMPLIES_KIND`.
_RUNTIME_IMPLIES_KIND: dict[Path, str] = {**_IMPLIES_KIND, ("record", "schema"): "record"}


def path_of(expr: ast.Expr) -> Path | None:
    """``action.input.amount`` -> ("action", "input", "amount"); None for anything else."""
    parts: list[str] = []
    node: ast.Expr = expr
    while isinstance(node, ast.Attr):
        parts.append(node.name)
        node = node.base
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return tuple(reversed(parts))
    return None


def _str_literals(expr: ast.Expr) -> frozenset[str] | None:
    if isinstance(expr, ast.Literal) and expr.kind is ast.LitKind.STRING:
        assert isinstance(expr.value, str)
        return frozenset((expr.value,))
    if isinstance(expr, ast.ListExpr):
        values: set[str] = set()
        for item in expr.items:
            if not (isinstance(item, ast.Literal) and item.kind is ast.LitKind.STRING):
                return None
            assert isinstance(item.value, str)
            values.add(item.value)
        return frozenset(values)
    return None


def _is_null(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.Literal) and expr.kind is ast.LitKind.NULL


def _with_kind(path: Path, values: frozenset[str], nonnull: frozenset[Path], runtime: bool = False) -> Facts:
    sets: dict[Path, frozenset[str]] = {path: values}
    kind = (_RUNTIME_IMPLIES_KIND if runtime else _IMPLIES_KIND).get(path)
    if kind is not None and values:
        sets[("action", "kind")] = frozenset((kind,))
    return Facts(sets, nonnull)


def _nonnull(path: Path, runtime: bool) -> Facts:
    """``path`` has a value; as the interpreter builds contexts, a path only one kind has names the kind."""
    kind = _RUNTIME_IMPLIES_KIND.get(path) if runtime else None
    return Facts({("action", "kind"): frozenset((kind,))} if kind is not None else {}, frozenset((path,)))


def facts_of(expr: ast.Expr, universes: Mapping[Path, frozenset[str]], *, negate: bool = False,
             runtime: bool = False) -> Facts:
    """What ``expr`` (or, with ``negate``, its negation) guarantees when it holds; with ``runtime``, in
    the decision contexts the interpreter builds (see `_RUNTIME_IMPLIES_KIND`)."""
    if isinstance(expr, (ast.And, ast.Or)):
        left = facts_of(expr.left, universes, negate=negate, runtime=runtime)
        right = facts_of(expr.right, universes, negate=negate, runtime=runtime)
        return left.disj(right) if isinstance(expr, ast.And) == negate else left.conj(right)
    if isinstance(expr, ast.Not):
        return facts_of(expr.operand, universes, negate=not negate, runtime=runtime)
    if isinstance(expr, ast.Compare) and expr.op in ("==", "!="):
        path, other = path_of(expr.left), expr.right
        if path is None:
            path, other = path_of(expr.right), expr.left
        if path is None:
            return EMPTY
        equal = (expr.op == "==") != negate
        if _is_null(other):
            return EMPTY if equal else _nonnull(path, runtime)
        values = _str_literals(other)
        if values is None:
            return _nonnull(path, runtime) if equal else EMPTY
        if equal:
            return _with_kind(path, values, frozenset((path,)), runtime)
        universe = universes.get(path)
        return Facts({path: universe - values}) if universe is not None else EMPTY
    if isinstance(expr, ast.In):
        path = path_of(expr.item)
        values = _str_literals(expr.container)
        if path is None or values is None or not isinstance(expr.container, ast.ListExpr):
            return EMPTY
        inside = (not expr.negated) != negate
        if inside:
            return _with_kind(path, values, frozenset((path,)), runtime)
        universe = universes.get(path)
        return Facts({path: universe - values}) if universe is not None else EMPTY
    if isinstance(expr, ast.Call) and expr.func == "starts_with" and len(expr.args) == 2 and not negate:
        path = path_of(expr.args[0])
        prefix = _str_literals(expr.args[1])
        universe = universes.get(path) if path else None
        if path is not None and universe is not None and prefix is not None and len(prefix) == 1:
            (p,) = prefix
            return _with_kind(path, frozenset(v for v in universe if v.startswith(p)), frozenset((path,)), runtime)
    return EMPTY


@dataclass(frozen=True, slots=True)
class Reach:
    """The actions a rule can match as the interpreter builds them; None: not narrowed."""

    kinds: frozenset[str] | None = None
    connectors: frozenset[str] | None = None  # for connector actions
    playbooks: frozenset[str] | None = None

    def can_match(self, kind: str, connector: str | None, playbook: str | None) -> bool:
        if self.kinds is not None and kind not in self.kinds:
            return False
        if kind == "connector" and self.connectors is not None and connector not in self.connectors:
            return False
        return self.playbooks is None or playbook is None or playbook in self.playbooks


ANY_ACTION = Reach()


def reach_of(expr: ast.Expr, universes: Mapping[Path, frozenset[str]]) -> Reach:
    facts = facts_of(expr, universes, runtime=True)
    connector = ("action", "connector")
    return Reach(facts.get(("action", "kind")), facts.get(connector) if connector in facts.nonnull else None,
                 facts.get(("run", "playbook")))
