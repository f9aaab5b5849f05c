"""The policy compiler: parse every rules file, check it against the plan, lint across rules, and
generate the evaluator. `compile_policies` is what the workspace compiler calls."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from aios.diagnostics import DiagnosticSink, Related
from aios.errors import PolicyError
from aios.plan import Plan, PolicyBundle
from aios.policy import ast
from aios.policy import codes as _codes  # noqa: F401 - registers the policy diagnostic codes
from aios.policy.checker import CheckedCondition, check_condition
from aios.policy.codegen import CoverageRecorder, RuleFn, generate
from aios.policy.compiled import CompiledPolicySet, CompiledRule
from aios.policy.decision import RuleRef
from aios.policy.env import TypingEnv
from aios.policy.facts import ANY_ACTION, Reach, reach_of
from aios.policy.lint import LintRule, report_duplicates, report_shadowed
from aios.policy.parser import parse_rules

__all__ = ["CheckedRule", "CheckedPolicies", "check_policies", "build_policy_set", "compile_policies",
           "policy_content_hash"]


@dataclass(frozen=True, slots=True)
class CheckedRule:
    ref: RuleRef
    rule: ast.Rule
    checked: CheckedCondition
    reach: Reach = ANY_ACTION


@dataclass(frozen=True, slots=True)
class CheckedPolicies:
    """The front end's result: enough to build the evaluator (plain or with clause coverage)."""

    files: tuple[ast.PolicyFile, ...]
    rules: tuple[CheckedRule, ...]
    default: RuleRef | None
    content_hash: str
    sources: tuple[tuple[str, str], ...]
    side_effects: Mapping[str, str]
    clause_count: int
    ok: bool


def policy_content_hash(files: Sequence[tuple[str, str]]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """sha256 over (path, sha256 of text) of each rules file, in path order."""
    digest = hashlib.sha256()
    sources = []
    for path, text in sorted(files):
        file_hash = hashlib.sha256(text.encode()).hexdigest()
        sources.append((path, file_hash))
        digest.update(path.encode() + b"\0" + file_hash.encode() + b"\0")
    return digest.hexdigest(), tuple(sources)


def _ref(policy: str, rule: ast.Rule) -> RuleRef:
    e = rule.effect
    return RuleRef(f"{policy}.{rule.name}", e.effect, rule.span, e.reason, e.approvers, e.timeout_s)


def _default(parsed: Sequence[ast.PolicyFile], sink: DiagnosticSink) -> RuleRef | None:
    defaults = [(f, f.default) for f in parsed if f.default is not None]
    if not defaults:
        return None
    strictest_file, strictest = max(defaults, key=lambda fd: fd[1].effect if fd[1] else 0)
    assert strictest is not None
    for _, d in defaults:
        assert d is not None
        if d.effect != strictest.effect:
            sink.report(
                "policy-default-conflict",
                f"`default {d.effect.label}` here is overridden by `default {strictest.effect.label}` in "
                f"{strictest_file.path}: the strictest default applies to every action",
                d.span, related=[Related(strictest.span, "the default that applies")],
                hint="set the default in one file only",
            )
    return RuleRef(f"{strictest_file.policy}.default", strictest.effect, strictest.span, strictest.reason,
                   strictest.approvers, strictest.timeout_s)


def check_policies(plan: Plan, files: Sequence[tuple[str, str]], sink: DiagnosticSink,
                   broken: frozenset[tuple[str, str]] = frozenset()) -> CheckedPolicies:
    """Parse and check ``files`` ((workspace-relative path, text)) against ``plan``."""
    before = sum(1 for d in sink.items if d.severity.value == "error")
    env = TypingEnv(plan, broken)
    parsed = tuple(parse_rules(path, text, sink) for path, text in sorted(files))
    report_duplicates(parsed, sink)
    rules: list[CheckedRule] = []
    clause_base = 0
    for f in parsed:
        for rule in f.rules:
            checked = check_condition(rule.when, env, sink, clause_base=clause_base)
            clause_base += len(checked.clauses)
            reach = reach_of(rule.when, env.universes) if rule.when is not None else ANY_ACTION
            rules.append(CheckedRule(_ref(f.policy, rule), rule, checked, reach))
    report_shadowed([LintRule(r.ref.id, r.rule, r.checked.facts, r.checked.ok) for r in rules], env.universes, sink)
    default = _default(parsed, sink)
    content_hash, sources = policy_content_hash(files)
    ok = sum(1 for d in sink.items if d.severity.value == "error") == before
    return CheckedPolicies(parsed, tuple(rules), default, content_hash, sources,
                           MappingProxyType(dict(env.side_effects)), clause_base, ok)


def _broken(rule_id: str) -> RuleFn:
    def fn(ctx: object) -> bool:
        raise PolicyError(f"rule {rule_id} did not compile")
    return fn


def build_policy_set(checked: CheckedPolicies, *, coverage: CoverageRecorder | None = None) -> CompiledPolicySet:
    """Generate the evaluator. Rules that failed to check are kept and fail closed when they run."""
    good = [r for r in checked.rules if r.checked.ok]
    fns, source = generate([r.checked.condition for r in good],
                           filename=f"<policies {checked.content_hash[:12]}>", coverage=coverage)
    by_id = {id(r): (i, fn) for i, (r, fn) in enumerate(zip(good, fns, strict=True))}
    compiled: list[CompiledRule] = []
    for r in checked.rules:
        facts = r.checked.facts
        connector_path = ("action", "connector")
        kinds = facts.get(("action", "kind"))
        connectors = facts.get(connector_path) if connector_path in facts.nonnull else None
        index, fn = by_id.get(id(r), (-1, _broken(r.ref.id)))
        compiled.append(CompiledRule(r.ref, fn, kinds, connectors, r.checked.clauses, r.checked.clause_base, index,
                                     r.checked.guards, r.reach))
    return CompiledPolicySet(checked.content_hash, tuple(compiled), checked.side_effects, checked.default,
                             source=source)


def compile_policies(plan: Plan, files: Sequence[tuple[str, str]], sink: DiagnosticSink,
                     broken: frozenset[tuple[str, str]] = frozenset()) -> PolicyBundle:
    """Compile ``policies/*.rules`` (``files`` = (workspace-relative path, text)) against ``plan``."""
    checked = check_policies(plan, files, sink, broken)
    return PolicyBundle(content_hash=checked.content_hash, sources=checked.sources,
                        compiled=build_policy_set(checked))
