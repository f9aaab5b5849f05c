"""Recompiling with a compile cache (what `aios dev` does on every reload) gives exactly what a
compile from scratch gives, parses again only the files whose text changed, and checks a playbook
again only when it or something it is checked against changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aios.compiler import CompileCache, compile_sources, compile_workspace
from aios.diagnostics import DiagnosticSink
from aios.load.workspace_files import discover
from aios.plan.plan import Plan
from tests.compiler.workspace_copy import copy_example, edit


class Compiled:
    def __init__(self, root: Path, cache: CompileCache) -> None:
        sink = DiagnosticSink()
        sources = discover(root, sink)
        self.plan: Plan | None = compile_sources(sources, sink, cache)
        self.hash = self.plan.content_hash if self.plan else None
        self.diagnostics = sink.sorted()
        self.read = {f.path: cache.documents.read(f) for f in sources.yaml_files}  # by identity
        self.playbooks = {pb.name: pb for pb in self.plan.playbooks} if self.plan else {}


def _fresh(root: Path) -> tuple[str | None, tuple[object, ...]]:
    result = compile_workspace(root)
    return (result.plan.content_hash if result.plan else None), result.diagnostics


def test_a_cached_recompile_equals_a_fresh_compile_through_a_series_of_edits(tmp_path: Path) -> None:
    ws = copy_example(tmp_path / "ws")
    agents, triage = ws / "playbooks" / "agents.yaml", ws / "playbooks" / "support-triage.yaml"
    schemas = ws / "playbooks" / "schemas.yaml"
    # (what, the edit, files it changes, whether playbooks in other files must be checked again)
    edits: list[tuple[str, Callable[[], None], set[str], bool]] = [
        ("a valid edit of an agent", lambda: edit(agents, "Classify a support message", "Sort a support message"),
         {"playbooks/agents.yaml"}, True),
        ("a valid edit of one playbook", lambda: edit(triage, "Urgent ticket from", "Urgent: ticket from"),
         {"playbooks/support-triage.yaml"}, False),
        ("a YAML syntax error", lambda: edit(triage, "name: support-triage", "name: [support-triage"),
         {"playbooks/support-triage.yaml"}, True),
        ("a duplicate key", lambda: edit(triage, "name: [support-triage", "name: support-triage\nname: again"),
         {"playbooks/support-triage.yaml"}, True),
        ("the file fixed", lambda: edit(triage, "name: support-triage\nname: again", "name: support-triage"),
         {"playbooks/support-triage.yaml"}, True),
        ("a schema field renamed under an unchanged playbook", lambda: edit(schemas, "  subject: str", "  topic: str"),
         {"playbooks/schemas.yaml"}, True),
        ("the schema restored", lambda: edit(schemas, "  topic: str", "  subject: str"),
         {"playbooks/schemas.yaml"}, True),
        ("a new file with an unknown kind", lambda: (ws / "playbooks" / "extra.yaml").write_text(
            "kind: playbok\nname: extra\n"), {"playbooks/extra.yaml"}, True),
        ("that file deleted", lambda: (ws / "playbooks" / "extra.yaml").unlink(), set(), True),
    ]
    cache = CompileCache()
    last = Compiled(ws, cache)
    assert (last.hash, last.diagnostics) == _fresh(ws)
    outcomes = []
    for what, change, changed, recheck in edits:
        change()
        now = Compiled(ws, cache)
        assert (now.hash, now.diagnostics) == _fresh(ws), what
        for path, docs in now.read.items():
            if path in changed:
                assert docs is not last.read.get(path), f"{what}: {path} was not read again"
            else:
                assert docs is last.read[path], f"{what}: {path} was parsed again though it did not change"
        if now.plan is not None and last.plan is not None:
            others = [n for n in now.playbooks if n != "support-triage"]
            reused = [n for n in others if now.playbooks[n] is last.playbooks[n]]
            assert reused == ([] if recheck else others), what
        assert len(cache.documents) == len(now.read)  # files that went away are forgotten
        outcomes.append((what, now.hash is not None))
        last = now
    # the series really went through broken and clean states
    assert [ok for _, ok in outcomes] == [True, True, False, False, True, False, True, False, True]
