"""Build small plans by hand for runtime tests (no workspace files, no compiler)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from aios.diagnostics import DiagnosticSink
from aios.plan.hashing import content_hash
from aios.plan.plan import (
    Agent,
    Connector,
    Lit,
    ModelRoute,
    Plan,
    Playbook,
    PolicyBundle,
    SideEffect,
    Step,
    StepKind,
    Template,
    TList,
    TMap,
    Trigger,
    TValue,
    WorkspaceSettings,
)
from aios.plan.types import FieldDef, FieldType, RecordType, TypeKind, parse_type_expr

__all__ = ["record", "tpl", "tv", "step", "connector", "make_plan", "with_policies", "STR", "ANYT"]

STR = FieldType(TypeKind.STR)
ANYT = FieldType(TypeKind.ANY)


def record(name: str, **fields: str) -> RecordType:
    defs = []
    for fname, expr in fields.items():
        t = parse_type_expr(expr)
        defs.append(FieldDef(fname, t, required=not t.optional))
    return RecordType(name, tuple(defs))


def tpl(source: str, expression: bool = False) -> Template:
    return Template(source, None, expression)


def tv(value: object) -> TValue:
    """Python data -> template tree: strings with `{{` become templates."""
    if isinstance(value, dict):
        return TMap(tuple((k, tv(v)) for k, v in value.items()))
    if isinstance(value, list):
        return TList(tuple(tv(v) for v in value))
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return Template(value)
    return Lit(value)  # type: ignore[arg-type]


def step(id: str, kind: StepKind, **kw: object) -> Step:
    return Step(id=id, kind=kind, **kw)  # type: ignore[arg-type]


def connector(name: str, side_effect: SideEffect = SideEffect.REVERSIBLE, *, compensation: str | None = None,
              inputs: dict[str, str] | None = None, outputs: dict[str, str] | None = None, builtin: bool = True,
              ) -> Connector:
    return Connector(name, record(f"{name}.input", **(inputs or {})), record(f"{name}.output", **(outputs or {})),
                     side_effect, compensation=compensation, builtin=builtin)


def make_plan(steps: Iterable[Step], *, name: str = "pb", schemas: Iterable[RecordType] = (),
              connectors: Iterable[Connector] = (), agents: Iterable[Agent] = (),
              routes: Iterable[ModelRoute] = (ModelRoute("default", "offline"),),
              prompts: Iterable[tuple[str, str]] = (), trigger: str = "test.event", budget_usd: float | None = None,
              extra_playbooks: Iterable[Playbook] = (), max_cost: float | None = None) -> Plan:
    pb = Playbook(name, Trigger(event=trigger), tuple(steps), budget_usd=budget_usd)
    plan = Plan(
        settings=WorkspaceSettings("test", max_cost_usd_per_run=max_cost), routes=tuple(routes), secrets=(),
        schemas=tuple(schemas), agents=tuple(agents), connectors=tuple(connectors), flags=(),
        playbooks=(pb, *extra_playbooks), prompts=tuple(prompts), policies=PolicyBundle(""),
    )
    return dataclasses.replace(plan, content_hash=content_hash(plan))


def with_policies(plan: Plan, rules: str) -> Plan:
    """Compile a rules file against the plan with the real policy compiler."""
    from aios.policy import compile_policies

    sink = DiagnosticSink()
    bundle = compile_policies(plan, [("policies/test.rules", rules)], sink)
    assert not sink.has_errors, [d.message for d in sink.items]
    out = dataclasses.replace(plan, policies=bundle)
    return dataclasses.replace(out, content_hash=content_hash(out))
