"""Checks of the workspace-level documents: aios.yaml, schemas, agents, connectors, flags.

Each `build_*` function checks its documents and returns the plan objects for the ones that hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aios.check.context import CheckContext
from aios.check.notify import build_notify
from aios.check.records import build_record_type
from aios.check.schedules import check_timezone
from aios.diagnostics import Related
from aios.plan.plan import (
    Agent,
    Backoff,
    Connector,
    Flag,
    Lit,
    ModelRoute,
    RetryPolicy,
    Secret,
    SideEffect,
    TList,
    TMap,
    TValue,
    Variant,
    WorkspaceSettings,
)
from aios.plan.types import RecordType
from aios.spec.agent import AgentDoc
from aios.spec.base import RetrySpec
from aios.spec.build import SpecDocument
from aios.spec.connector import ConnectorDoc
from aios.spec.flag import FlagDoc
from aios.spec.schema import SchemaDoc
from aios.spec.workspace import WorkspaceDoc

__all__ = ["check_duplicates", "build_workspace", "build_schemas", "build_connectors", "build_agents",
           "build_flags", "retry_policy", "literal_tree"]

_SECRETISH = re.compile(r"(password|passwd|token|api_key|apikey|secret)$", re.I)
_KEYISH = re.compile(r"^(sk-|xox[bp]-|ghp_|AKIA)[A-Za-z0-9_-]{8,}")


def check_duplicates(ctx: CheckContext, docs: Iterable[SpecDocument]) -> list[SpecDocument]:
    """Keep the first document of each (kind, name); report the others."""
    first: dict[tuple[str, str], SpecDocument] = {}
    kept = []
    for d in docs:
        key = (d.kind, d.name)
        if key in first:
            other = first[key]
            ctx.sink.report("duplicate-name", f"{d.kind} `{d.name}` is declared twice", d.spans.value(("name",)),
                            related=[Related(other.spans.value(("name",)), "first declared here")])
            continue
        first[key] = d
        kept.append(d)
    return kept


def literal_tree(value: Any) -> TValue:
    if isinstance(value, dict):
        return TMap(tuple((str(k), literal_tree(v)) for k, v in value.items()))
    if isinstance(value, list):
        return TList(tuple(literal_tree(v) for v in value))
    return Lit(value)


def retry_policy(spec: RetrySpec | None) -> RetryPolicy:
    if spec is None:
        return RetryPolicy()
    return RetryPolicy(spec.max, Backoff(spec.backoff), spec.base_s, spec.max_s, spec.jitter)


def build_workspace(ctx: CheckContext, doc: SpecDocument | None) -> tuple[WorkspaceSettings, tuple[ModelRoute, ...],
                                                                          tuple[Secret, ...]]:
    if doc is None:
        default = ModelRoute("default", "offline")
        return WorkspaceSettings(name="workspace"), (default,), ()
    ws = doc.model
    assert isinstance(ws, WorkspaceDoc)
    secrets = tuple(Secret(name, s.env, s.required) for name, s in ws.secrets.items())
    routes = []
    for name, r in ws.models.items():
        if r.api_key is not None and r.api_key not in ws.secrets:
            if _KEYISH.match(r.api_key):
                ctx.sink.report("secret-literal", f"model route `{name}` has an API key written inline",
                                doc.spans.value(("models", name, "api_key")),
                                hint="declare it under `secrets:` as an environment variable and name it here")
            else:
                ctx.unknown("unknown-secret", "secret", r.api_key, ws.secrets,
                            doc.spans.value(("models", name, "api_key")))
        routes.append(ModelRoute(name, r.model, r.api_base, r.api_key, r.temperature, r.max_tokens, r.timeout_s,
                                 r.max_retries, r.input_cost_per_1k, r.output_cost_per_1k))
    if ws.default_model not in ws.models:
        ctx.unknown("unknown-model-route", "model route", ws.default_model, ws.models,
                    doc.spans.value(("default_model",)))
    if ws.memory.embedding is not None and ws.memory.embedding not in ws.models:
        ctx.unknown("unknown-model-route", "model route", ws.memory.embedding, ws.models,
                    doc.spans.value(("memory", "embedding")))
    for cname, block in ws.connectors.items():
        for key, value in block.items():
            path = ("connectors", cname, key)
            if key.endswith("_secret"):
                if not isinstance(value, str) or value not in ws.secrets:
                    ctx.unknown("unknown-secret", "secret", str(value), ws.secrets, doc.spans.value(path))
            elif _SECRETISH.search(key) and isinstance(value, str) and value:
                ctx.sink.report("secret-literal", f"`{cname}.{key}` looks like a secret written inline",
                                doc.spans.value(path),
                                hint=f"declare it under `secrets:` and write `{key}_secret: <name>` instead")
    check_timezone(ctx.sink, "invalid-value", ws.runtime.timezone, doc.spans.value(("runtime", "timezone")))
    settings = WorkspaceSettings(
        name=ws.name, storage=ws.storage, default_model=ws.default_model, knowledge_dir=ws.memory.knowledge_dir,
        half_life_days=ws.memory.half_life_days, cold_after_days=ws.memory.cold_after_days,
        embedding_route=ws.memory.embedding, max_cost_usd_per_run=ws.runtime.max_cost_usd_per_run,
        step_timeout_s=ws.runtime.step_timeout_s, actor=ws.runtime.actor, timezone=ws.runtime.timezone,
        connector_settings=tuple((k, literal_tree(v)) for k, v in sorted(ws.connectors.items())),
        notify=build_notify(ctx, doc),
    )
    return settings, tuple(routes), secrets


def build_schemas(ctx: CheckContext, docs: list[SpecDocument]) -> list[RecordType]:
    names = {d.name for d in docs} | {n for k, n in ctx.broken if k == "schema"}
    out = []
    for d in docs:
        s = d.model
        assert isinstance(s, SchemaDoc)
        rec = build_record_type(ctx, s.name, s.fields, d.spans, ("fields",), names)
        if s.key is not None and rec.field(s.key) is None:
            ctx.sink.report("invalid-value",
                            f"`key` names `{s.key}`, which is not a field of `{s.name}`", d.spans.value(("key",)))
        out.append(RecordType(rec.name, rec.fields, d.spans.value(("name",))))
    return out


def build_connectors(ctx: CheckContext, docs: list[SpecDocument], schema_map: dict[str, RecordType],
                     builtin: bool, known: set[str], secrets: Iterable[str]) -> list[Connector]:
    secret_names = set(secrets)
    out = []
    for d in docs:
        c = d.model
        assert isinstance(c, ConnectorDoc)
        io: dict[str, RecordType] = {}
        for part in ("input", "output"):
            spec = getattr(c, part)
            if isinstance(spec, str):
                rec = schema_map.get(spec)
                if rec is None:
                    ctx.unknown("unknown-schema", "schema", spec, schema_map, d.spans.value((part,)), kind="schema")
                    rec = RecordType(f"{c.name}.{part}", ())
                io[part] = rec
            else:
                io[part] = build_record_type(ctx, f"{c.name}.{part}", spec, d.spans, (part,), schema_map)
        if c.compensation is not None and c.compensation not in known:
            ctx.unknown("unknown-connector", "connector", c.compensation, known, d.spans.value(("compensation",)),
                        kind="connector")
        for i, s in enumerate(c.secrets):
            if s not in secret_names:
                ctx.unknown("unknown-secret", "secret", s, secret_names, d.spans.value(("secrets", i)))
        if c.module is not None and not builtin:
            module_file = c.module.split(":")[0].replace(".", "/") + ".py"
            if f"connectors/{module_file}" not in ctx.sources.connector_modules:
                ctx.sink.report("unknown-connector", f"connector module `connectors/{module_file}` does not exist",
                                d.spans.value(("module",)),
                                hint="write `module: <file stem>:<function>` for a file in connectors/")
        out.append(Connector(
            name=c.name, input=io["input"], output=io["output"], side_effect=SideEffect(c.side_effect),
            compensation=c.compensation, retry=retry_policy(c.retry) if c.retry else None, can_preview=c.preview,
            can_reconcile=c.reconcile, module=c.module, secrets=tuple(c.secrets), builtin=builtin,
            description=c.description, span=None if builtin else d.spans.value(("name",)),
        ))
    return out


def build_agents(ctx: CheckContext, docs: list[SpecDocument], routes: dict[str, ModelRoute], default_route: str,
                 schema_map: dict[str, RecordType], connectors: set[str], flags: set[str],
                 prompts: set[str]) -> list[Agent]:
    out = []
    for d in docs:
        a = d.model
        assert isinstance(a, AgentDoc)
        route = a.model or default_route
        if a.model is not None and a.model not in routes:
            ctx.unknown("unknown-model-route", "model route", a.model, routes, d.spans.value(("model",)))
        if a.prompt not in prompts:
            ctx.unknown("unknown-prompt", "prompt template", a.prompt, prompts, d.spans.value(("prompt",)))
        if a.output is not None and a.output not in schema_map:
            ctx.unknown("unknown-schema", "schema", a.output, schema_map, d.spans.value(("output",)), kind="schema")
        for i, tool in enumerate(a.tools):
            if tool not in connectors and tool != "memory.search":
                ctx.unknown("unknown-connector", "tool", tool, [*connectors, "memory.search"],
                            d.spans.value(("tools", i)), kind="connector")
        if a.flag is not None and a.flag not in flags:
            ctx.unknown("unknown-flag", "flag", a.flag, flags, d.spans.value(("flag",)), kind="flag")
        out.append(Agent(a.name, a.role, route, a.prompt, tuple(a.tools), a.output, a.flag, a.description,
                         d.spans.value(("name",))))
    return out


def build_flags(ctx: CheckContext, docs: list[SpecDocument], routes: dict[str, ModelRoute],
                prompts: set[str]) -> list[Flag]:
    out = []
    for d in docs:
        f = d.model
        assert isinstance(f, FlagDoc)
        total = sum(v.share for v in f.variants)
        if abs(total - 100.0) > 1e-6:
            ctx.sink.report("flag-share", f"variant shares of flag `{f.name}` add up to {total:g}, not 100",
                            d.spans.value(("variants",)))
        seen: set[str] = set()
        variants = []
        for i, v in enumerate(f.variants):
            if v.name in seen:
                ctx.sink.report("duplicate-name", f"variant `{v.name}` appears twice in flag `{f.name}`",
                                d.spans.value(("variants", i, "name")))
            seen.add(v.name)
            if v.prompt is not None and v.prompt not in prompts:
                ctx.unknown("unknown-prompt", "prompt template", v.prompt, prompts,
                            d.spans.value(("variants", i, "prompt")))
            if v.model is not None and v.model not in routes:
                ctx.unknown("unknown-model-route", "model route", v.model, routes,
                            d.spans.value(("variants", i, "model")))
            variants.append(Variant(v.name, v.share, v.prompt, v.model))
        out.append(Flag(f.name, tuple(variants), f.metric, f.rollback_below, d.spans.value(("name",))))
    return out
