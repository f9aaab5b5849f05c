"""Recompiling with a document cache (what `aios dev` does on every reload) gives exactly what a
compile from scratch gives, and parses again only the files whose text changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aios.compiler import DocumentCache, compile_sources, compile_workspace
from aios.diagnostics import DiagnosticSink
from aios.load.workspace_files import discover
from tests.compiler.workspace_copy import copy_example, edit


def _cached_compile(root: Path, cache: DocumentCache) -> tuple[str | None, tuple[object, ...], dict[str, object]]:
    sink = DiagnosticSink()
    sources = discover(root, sink)
    plan = compile_sources(sources, sink, cache)
    read = {f.path: cache.read(f) for f in sources.yaml_files}  # what the compile used, by identity
    return (plan.content_hash if plan else None), sink.sorted(), read


def _fresh(root: Path) -> tuple[str | None, tuple[object, ...]]:
    result = compile_workspace(root)
    return (result.plan.content_hash if result.plan else None), result.diagnostics


def test_a_cached_recompile_equals_a_fresh_compile_through_a_series_of_edits(tmp_path: Path) -> None:
    ws = copy_example(tmp_path / "ws")
    agents, triage = ws / "playbooks" / "agents.yaml", ws / "playbooks" / "support-triage.yaml"
    edits: list[tuple[str, Callable[[], None], set[str]]] = [
        ("a valid edit", lambda: edit(agents, "Classify a support message", "Sort a support message"),
         {"playbooks/agents.yaml"}),
        ("a YAML syntax error", lambda: edit(triage, "name: support-triage", "name: [support-triage"),
         {"playbooks/support-triage.yaml"}),
        ("a duplicate key", lambda: edit(triage, "name: [support-triage", "name: support-triage\nname: again"),
         {"playbooks/support-triage.yaml"}),
        ("the file fixed", lambda: edit(triage, "name: support-triage\nname: again", "name: support-triage"),
         {"playbooks/support-triage.yaml"}),
        ("a new file with an unknown kind", lambda: (ws / "playbooks" / "extra.yaml").write_text(
            "kind: playbok\nname: extra\n"), {"playbooks/extra.yaml"}),
        ("that file deleted", lambda: (ws / "playbooks" / "extra.yaml").unlink(), set()),
    ]
    cache = DocumentCache()
    plan_hash, diags, read = _cached_compile(ws, cache)
    assert (plan_hash, diags) == _fresh(ws)
    outcomes = []
    for what, change, changed in edits:
        change()
        plan_hash, diags, now = _cached_compile(ws, cache)
        assert (plan_hash, diags) == _fresh(ws), what
        for path, docs in now.items():
            if path in changed:
                assert docs is not read.get(path), f"{what}: {path} was not read again"
            else:
                assert docs is read[path], f"{what}: {path} was parsed again though it did not change"
        assert len(cache) == len(now)  # files that went away are forgotten
        outcomes.append((what, plan_hash is not None, len(diags)))
        read = now
    # the series really went through broken and clean states
    assert [ok for _, ok, _ in outcomes] == [True, False, False, True, False, True]
