"""Compile a workspace: load → spec → check → plan (+ policies), collecting every diagnostic.

This is the one place the stages are chained (like Jinja's `Environment.compile`). `aios validate`
calls exactly this, so a workspace that validates cannot fail at run time for a reason it could see.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from aios.check.context import CheckContext
from aios.check.documents import (
    build_agents,
    build_connectors,
    build_flags,
    build_schemas,
    build_workspace,
    check_duplicates,
)
from aios.check.playbooks import CheckedPlaybooks, PlaybookContext, build_playbooks, event_shape
from aios.check.shapes import ANY_SHAPE, FieldShape, ObjShape
from aios.check.templates import Scope, TemplateChecker
from aios.connectors.check import check_connectors
from aios.diagnostics import Diagnostic, DiagnosticSink, Severity
from aios.load.suppressions import apply_suppressions, scan_suppressions
from aios.load.workspace_files import SourceFile, WorkspaceSources, discover
from aios.load.yaml_reader import read_yaml
from aios.plan.hashing import content_hash
from aios.plan.plan import Agent, Connector, Flag, Plan, Playbook, PolicyBundle
from aios.plan.types import FieldType, TypeKind
from aios.spec.build import SpecDocument, build_document
from aios.spec.file_documents import DOC_KINDS, DocumentCache, read_file_documents

__all__ = ["CompileResult", "compile_workspace", "compile_sources", "CompileCache", "PROMPT_VARIABLES"]

PROMPT_VARIABLES = ("input", "agent", "output_schema", "event", "run")

@dataclass(frozen=True)
class CompileResult:
    root: Path
    plan: Plan | None
    diagnostics: tuple[Diagnostic, ...]
    sources: WorkspaceSources

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return self.plan is not None

@lru_cache(maxsize=1)
def _builtin_connector_docs() -> tuple[SpecDocument, ...]:
    path = Path(__file__).parent / "connectors" / "builtin.yaml"
    sink = DiagnosticSink()
    docs = [build_document(d, sink, allowed_kinds=("connector",))
            for d in read_yaml("<builtin>/connectors.yaml", path.read_text(encoding="utf-8"), sink)]
    if sink.items:  # pragma: no cover - the shipped file is tested
        raise RuntimeError(f"built-in connector contracts are invalid: {sink.items}")
    return tuple(d for d in docs if d is not None)

def _load_documents(sources: WorkspaceSources, sink: DiagnosticSink, cache: DocumentCache | None,
                    ) -> tuple[SpecDocument | None, list[SpecDocument], set[tuple[str, str]]]:
    broken: set[tuple[str, str]] = set()
    workspace = None
    if sources.workspace is not None:
        ws_docs = read_yaml(sources.workspace.path, sources.workspace.text, sink)
        for i, d in enumerate(ws_docs):
            if i > 0:
                sink.report("unknown-kind", "aios.yaml holds one document; put others in playbooks/", d.span)
                continue
            workspace = build_document(d, sink, default_kind="workspace", allowed_kinds=("workspace",))
    docs: list[SpecDocument] = []
    for f in sources.yaml_files:
        read = cache.read(f) if cache is not None else read_file_documents(f)
        sink.extend(read.diagnostics)
        docs.extend(read.docs)
        broken |= read.broken
    if cache is not None:
        cache.keep_only({f.path for f in sources.yaml_files})
    return workspace, docs, broken

def _used_names(plan_playbooks: tuple[Playbook, ...], connectors: list[Connector]) -> tuple[set[str], set[str]]:
    agents: set[str] = set()
    conns: set[str] = set()
    for pb in plan_playbooks:
        for s in pb.steps:
            if s.agent:
                agents.add(s.agent)
            if s.connector:
                conns.add(s.connector)
            if s.compensate:
                conns.add(s.compensate)
            if s.map is not None:
                if s.map.agent:
                    agents.add(s.map.agent)
                if s.map.connector:
                    conns.add(s.map.connector)
    for c in connectors:
        if c.compensation:
            conns.add(c.compensation)
    return agents, conns

@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a compile.

    A compile allocates hundreds of thousands of small objects that stay alive until it ends (YAML
    nodes, spans, documents); the collector's repeated full passes over them cost about a sixth of a
    large compile and free nothing. Collection resumes, unchanged, when the compile ends.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class CompileCache:
    """What one compile can hand the next (`aios dev` keeps one across reloads): the documents of every
    file by its text, and the check results of playbooks while nothing they are checked against
    changed. A compile with a cache gives exactly what a compile without one gives (tested)."""

    def __init__(self) -> None:
        self.documents = DocumentCache()
        self.playbooks = CheckedPlaybooks()


def compile_sources(sources: WorkspaceSources, sink: DiagnosticSink, cache: CompileCache | None = None,
                    ) -> Plan | None:
    """Compile what `discover` read. With a ``cache`` (kept across recompiles), files whose text has not
    changed are not parsed again, and playbooks are not checked again while neither they nor anything
    they refer to changed; the result is the same either way."""
    with gc_paused():
        return _compile_sources(sources, sink, cache)


def _compile_sources(sources: WorkspaceSources, sink: DiagnosticSink, cache: CompileCache | None) -> Plan | None:
    # The policy plane registers its diagnostic codes when imported; suppressions name them.
    from aios.policy import compile_policies
    from aios.policy.testing import load_cases

    suppressions = []
    for f in (*([sources.workspace] if sources.workspace else []), *sources.yaml_files, *sources.rules_files):
        suppressions.extend(scan_suppressions(f.path, f.text, sink))
    workspace, docs, broken = _load_documents(sources, sink, cache.documents if cache is not None else None)
    ctx = CheckContext(sink, sources, docs, broken)
    docs = check_duplicates(ctx, docs)
    builtin = list(_builtin_connector_docs())
    builtin_names = {d.name for d in builtin}
    for d in docs:
        if d.kind == "connector" and d.name in builtin_names:
            sink.report("duplicate-name", f"connector `{d.name}` is built into aios and cannot be redeclared",
                        d.spans.value(("name",)), hint="give your connector another name")
    ctx.documents = docs
    by_kind = {k: [d for d in docs if d.kind == k and not (k == "connector" and d.name in builtin_names)]
               for k in DOC_KINDS}
    settings, routes, secrets = build_workspace(ctx, workspace)
    route_map = {r.name: r for r in routes}
    schemas = build_schemas(ctx, by_kind["schema"])
    schema_map = {s.name: s for s in schemas}
    prompt_files = {p.path for p in sources.prompts}
    flags = build_flags(ctx, by_kind["flag"], route_map, prompt_files)
    known_connectors = (builtin_names | {d.name for d in by_kind["connector"]}
                        | {n for k, n in broken if k == "connector"})
    connectors = build_connectors(ctx, builtin, schema_map, True, known_connectors, ())
    connectors += build_connectors(ctx, by_kind["connector"], schema_map, False, known_connectors,
                                   (s.name for s in secrets))
    conn_map = {c.name: c for c in connectors}
    agents = build_agents(ctx, by_kind["agent"], route_map, settings.default_model, schema_map,
                          set(conn_map), {f.name for f in flags} | {n for k, n in broken if k == "flag"},
                          prompt_files)
    agent_map = {a.name: a for a in agents}
    pctx = PlaybookContext(schema_map, agent_map, conn_map, {n for k, n in broken if k == "connector"},
                           frozenset(s.name for s in secrets))
    memo = None
    if cache is not None:  # everything a playbook's check reads besides its own document
        memo = cache.playbooks
        memo.use((sources.workspace.text if sources.workspace else None, frozenset(broken),
                  tuple((p.path, p.text) for p in sources.prompts)), [d for d in docs if d.kind != "playbook"])
    playbooks = build_playbooks(ctx, by_kind["playbook"], pctx, memo)
    _check_prompts(ctx, sources.prompts, agents, flags)
    used_agents, used_conns = _used_names(tuple(playbooks), connectors)
    reported = {d.code for d in sink.items}
    # while a reference is unresolved or a document did not build (its references are unknown),
    # "unused" is most likely a consequence
    quiet = bool(broken) or any(c.startswith("yaml-") for c in reported) or "unknown-kind" in reported
    for a in agents:
        if a.name not in used_agents and a.span is not None and "unknown-agent" not in reported and not quiet:
            sink.report("unused-document", f"agent `{a.name}` is not used by any playbook", a.span)
    for c in connectors:
        if not c.builtin and c.name not in used_conns and c.span is not None \
                and "unknown-connector" not in reported and not quiet:
            sink.report("unused-document", f"connector `{c.name}` is not used by any playbook", c.span)
    plan = Plan(
        settings=settings, routes=routes, secrets=secrets, schemas=tuple(schemas), agents=tuple(agents),
        connectors=tuple(connectors), flags=tuple(flags), playbooks=tuple(playbooks),
        prompts=tuple((p.path, p.text) for p in sources.prompts), policies=PolicyBundle(""),
    )
    bundle = compile_policies(plan, [(f.path, f.text) for f in sources.rules_files], sink, frozenset(broken))
    plan = dataclasses.replace(plan, policies=bundle)
    for f in sources.policy_tests:  # well-formed, and every input matches the plan (not run here)
        load_cases(f.path, f.text, sink, plan=plan, broken=frozenset(broken))
    check_connectors(plan, by_kind["connector"], sources.root, sink)
    apply_suppressions(sink.sorted(), suppressions, sink)
    if sink.has_errors:
        return None
    return dataclasses.replace(plan, content_hash=content_hash(plan))

def _check_prompts(ctx: CheckContext, prompts: tuple[SourceFile, ...], agents: list[Agent],
                   flags: list[Flag]) -> None:
    used = {a.prompt_file for a in agents} | {v.prompt_file for f in flags for v in f.variants if v.prompt_file}
    checker = TemplateChecker(ctx)
    names = {
        "input": ANY_SHAPE,
        "agent": ObjShape("the agent", {"name": FieldShape(FieldType(TypeKind.STR)),
                                        "role": FieldShape(FieldType(TypeKind.STR))}),
        "output_schema": ANY_SHAPE,
        "event": event_shape(None),
        "run": ANY_SHAPE,
    }
    for p in prompts:
        if p.path in used:
            checker.check_file(p.path, p.text, Scope(names))

def compile_workspace(root: Path | str) -> CompileResult:
    """Compile the workspace at ``root``. Never raises for problems in the user's files."""
    root = Path(root).resolve()
    sink = DiagnosticSink()
    sources = discover(root, sink)
    plan = compile_sources(sources, sink)
    return CompileResult(root, plan, sink.sorted(), sources)

