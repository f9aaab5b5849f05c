"""A hand-built plan for policy tests: typed like the example workspace, independent of its files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from aios.diagnostics import Diagnostic, DiagnosticSink
from aios.plan import (
    Agent,
    Connector,
    ModelRoute,
    Plan,
    Playbook,
    PolicyBundle,
    SideEffect,
    Trigger,
    WorkspaceSettings,
)
from aios.plan.types import FieldDef, FieldType, RecordType, TypeKind
from aios.policy import CompiledPolicySet, compile_policies

UTC = dt.UTC
MONDAY = dt.datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SATURDAY = dt.datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def f(name: str, kind: TypeKind, required: bool = True, default: object = None, **kw: object) -> FieldDef:
    return FieldDef(name, FieldType(kind, **kw), required, default)  # type: ignore[arg-type]


def connector(name: str, side: SideEffect, *fields: FieldDef) -> Connector:
    return Connector(name, RecordType(f"{name}.input", fields), RecordType(f"{name}.output", ()), side)


CONNECTORS = (
    connector("cms.publish", SideEffect.REVERSIBLE, f("slug", TypeKind.STR), f("title", TypeKind.STR),
              f("body", TypeKind.STR), f("tags", TypeKind.LIST, False, items=FieldType(TypeKind.STR))),
    connector("cms.unpublish", SideEffect.REVERSIBLE, f("slug", TypeKind.STR)),
    connector("supplier.order", SideEffect.IRREVERSIBLE, f("sku", TypeKind.STR), f("quantity", TypeKind.INT),
              f("supplier_email", TypeKind.EMAIL), f("total_eur", TypeKind.DECIMAL),
              f("note", TypeKind.STR, False), f("due", TypeKind.DATE, False)),
    connector("payments.refund", SideEffect.IRREVERSIBLE, f("amount_eur", TypeKind.DECIMAL),
              f("customer", TypeKind.STR), f("amount_usd", TypeKind.DECIMAL, False)),
    connector("email.send", SideEffect.IRREVERSIBLE, f("to", TypeKind.EMAIL), f("subject", TypeKind.STR),
              f("body", TypeKind.STR), f("cc", TypeKind.LIST, False, items=FieldType(TypeKind.EMAIL))),
    connector("http.request", SideEffect.IRREVERSIBLE, f("url", TypeKind.URL),
              f("method", TypeKind.ENUM, False, "POST", values=("GET", "POST")),
              f("json", TypeKind.ANY, False), f("sent_at", TypeKind.DATETIME, False)),
    connector("search.web", SideEffect.NONE, f("query", TypeKind.STR), f("limit", TypeKind.INT)),
)

SCHEMAS = (
    RecordType("Project", (f("title", TypeKind.STR), f("budget_eur", TypeKind.DECIMAL),
                           f("deadline", TypeKind.DATE, False), f("topics", TypeKind.LIST, items=FieldType(TypeKind.STR)),
                           f("status", TypeKind.ENUM, False, "proposed", values=("proposed", "active", "done")))),
    RecordType("Order", (f("sku", TypeKind.STR), f("quantity", TypeKind.INT), f("total_eur", TypeKind.DECIMAL))),
)

PLAN = Plan(
    settings=WorkspaceSettings(name="policy-tests"),
    routes=(ModelRoute("default", "offline"), ModelRoute("smart", "openai/gpt-4o-mini")),
    secrets=(),
    schemas=SCHEMAS,
    agents=(Agent("editor", "writes", "default", "prompts/editor.j2"), Agent("buyer", "buys", "default", "p.j2")),
    connectors=CONNECTORS,
    flags=(),
    playbooks=(Playbook("content-pipeline", Trigger(event="lead.received"), ()),
               Playbook("stock-replenishment", Trigger(event="inventory.low_stock"), ())),
    prompts=(),
    policies=PolicyBundle(""),
)


def compile_text(*texts: str | tuple[str, str], plan: Plan = PLAN) -> tuple[CompiledPolicySet, list[Diagnostic]]:
    """Compile rules given as text (file ``policies/p<i>.rules``) or (path, text)."""
    files: list[tuple[str, str]] = []
    for i, t in enumerate(texts):
        files.append(t if isinstance(t, tuple) else (f"policies/p{i}.rules", t))
    sink = DiagnosticSink()
    bundle = compile_policies(plan, files, sink)
    assert isinstance(bundle.compiled, CompiledPolicySet)
    return bundle.compiled, list(sink.sorted())


def compile_ok(*texts: str | tuple[str, str]) -> CompiledPolicySet:
    policy_set, diags = compile_text(*texts)
    errors = [d for d in diags if d.severity.value == "error"]
    assert errors == [], "\n".join(f"{d.span.show() if d.span else '-'} {d.code} {d.message}" for d in errors)
    return policy_set


def codes(diags: Sequence[Diagnostic]) -> list[str]:
    return [d.code for d in diags]
