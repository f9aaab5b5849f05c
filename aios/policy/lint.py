"""Cross-rule checks: duplicate names, and rules that can never change a decision.

Rule B is shadowed by rule A when B matching implies A matching (A has no condition, or each of A's
``and``-clauses is one of B's, or is a guard B narrows further) and A's effect is stricter: then B
never changes the outcome. With equal effects B still adds its reason (and approvers) to the
decision, so it is reported only when A comes first and has no condition at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aios.diagnostics import DiagnosticSink, Related
from aios.policy import ast
from aios.policy.env import Path
from aios.policy.facts import Facts, facts_of
from aios.span import Span

__all__ = ["LintRule", "report_duplicates", "report_shadowed", "conjuncts"]


@dataclass(frozen=True, slots=True)
class LintRule:
    id: str
    rule: ast.Rule
    facts: Facts
    ok: bool  # type-checked without errors


def conjuncts(expr: ast.Expr | None) -> list[ast.Expr]:
    if expr is None:
        return []
    if isinstance(expr, ast.And):
        return conjuncts(expr.left) + conjuncts(expr.right)
    return [expr]


def report_duplicates(files: Sequence[ast.PolicyFile], sink: DiagnosticSink) -> None:
    policies: dict[str, ast.PolicyFile] = {}
    for f in files:
        first = policies.get(f.policy)
        if first is not None:
            span = f.policy_span or _file_span(f)
            sink.report("policy-duplicate", f"policy `{f.policy}` is already declared by {first.path}", span,
                        related=[Related(first.policy_span or _file_span(first), "first declared here")],
                        hint="rule ids are `policy.rule`; give each file its own policy name")
        else:
            policies[f.policy] = f
        seen: dict[str, ast.Rule] = {}
        for rule in f.rules:
            prev = seen.get(rule.name)
            if prev is not None:
                sink.report("rule-duplicate", f"rule `{rule.name}` is already defined in policy `{f.policy}`",
                            rule.name_span, related=[Related(prev.name_span, "first defined here")],
                            hint="rule names identify decisions in the log; rename one")
            else:
                seen[rule.name] = rule


def _file_span(f: ast.PolicyFile) -> Span:
    return Span(f.path, 0, 0, 0, 1)


def _implied(a_clause: ast.Expr, b_clauses: list[ast.Expr], b_facts: Facts,
             universes: Mapping[Path, frozenset[str]]) -> bool:
    if any(a_clause == c for c in b_clauses):
        return True
    a_facts = facts_of(a_clause, universes)
    if not a_facts.sets or a_facts.nonnull - b_facts.nonnull:
        return False
    # a_clause is a pure guard (`x == "a"`, `x in [...]`): implied when B narrows every path further.
    for path, allowed in a_facts.sets.items():
        b_values = b_facts.get(path)
        if b_values is None or not b_values <= allowed:
            return False
    return _is_guard(a_clause)


def _is_guard(expr: ast.Expr) -> bool:
    if isinstance(expr, ast.Compare) and expr.op == "==":
        return True
    if isinstance(expr, ast.In) and not expr.negated and isinstance(expr.container, ast.ListExpr):
        return True
    if isinstance(expr, ast.Or):
        return _is_guard(expr.left) and _is_guard(expr.right)
    return False


def report_shadowed(rules: Sequence[LintRule], universes: Mapping[Path, frozenset[str]],
                    sink: DiagnosticSink) -> None:
    clauses = [conjuncts(r.rule.when) for r in rules]
    for j, b in enumerate(rules):
        if not b.ok:
            continue
        for i, a in enumerate(rules):
            if i == j or not a.ok:
                continue
            ea, eb = a.rule.effect.effect, b.rule.effect.effect
            if ea < eb or (ea == eb and (i > j or a.rule.when is not None)):
                continue
            if not all(_implied(c, clauses[j], b.facts, universes) for c in clauses[i]):
                continue
            cond = "always" if a.rule.when is None else "whenever this rule matches"
            sink.report(
                "rule-shadowed",
                f"rule `{b.id}` can never change a decision: `{a.id}` decides {ea.label} {cond}",
                b.rule.name_span,
                related=[Related(a.rule.name_span, f"`{a.id}` is here")],
                hint="remove the rule, narrow the other one, or give this one a stricter effect",
            )
            break
