"""Find a workspace's files. Order is sorted by path so compilation is deterministic."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aios.diagnostics import DiagnosticSink
from aios.span import Span

__all__ = ["SourceFile", "WorkspaceSources", "discover", "find_workspace_root", "WORKSPACE_FILE"]

WORKSPACE_FILE = "aios.yaml"
_YAML_DIRS = ("playbooks", "connectors")
_SKIP_SUFFIXES = (".test.yaml", ".test.yml")


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str  # workspace-relative, POSIX
    text: str


@dataclass(frozen=True)
class WorkspaceSources:
    root: Path
    workspace: SourceFile | None
    yaml_files: tuple[SourceFile, ...]
    rules_files: tuple[SourceFile, ...]
    prompts: tuple[SourceFile, ...]
    connector_modules: tuple[str, ...]  # workspace-relative paths of connectors/*.py
    policy_tests: tuple[SourceFile, ...] = ()  # policies/*.test.yaml, checked against the plan

    def all_files(self) -> tuple[SourceFile, ...]:
        head = (self.workspace,) if self.workspace else ()
        return (*head, *self.yaml_files, *self.rules_files, *self.prompts, *self.policy_tests)

    def text_of(self, path: str) -> str | None:
        for f in self.all_files():
            if f.path == path:
                return f.text
        return None


def find_workspace_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding aios.yaml."""
    here = start.resolve()
    for candidate in (here, *here.parents):
        if (candidate / WORKSPACE_FILE).is_file():
            return candidate
    return None


def _read(root: Path, path: Path, sink: DiagnosticSink) -> SourceFile | None:
    rel = path.relative_to(root).as_posix()
    try:
        data = path.read_bytes()
    except OSError as err:
        sink.report("file-unreadable", f"cannot read file: {err.strerror or err}", Span.whole_file(rel))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start]
        line = before.count(b"\n")
        col = len(before) - (before.rfind(b"\n") + 1)
        sink.report("file-unreadable", "the file is not valid UTF-8", Span.point(rel, line, col),
                    hint="save the file as UTF-8")
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    return SourceFile(rel, text)


def _glob(root: Path, folder: str, patterns: tuple[str, ...]) -> list[Path]:
    base = root / folder
    if not base.is_dir():
        return []
    found: set[Path] = set()
    for pattern in patterns:
        found.update(p for p in base.rglob(pattern) if p.is_file())
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def discover(root: Path, sink: DiagnosticSink) -> WorkspaceSources:
    root = root.resolve()
    ws_path = root / WORKSPACE_FILE
    workspace = None
    if ws_path.is_file():
        workspace = _read(root, ws_path, sink)
    else:
        sink.report("workspace-missing", f"no {WORKSPACE_FILE} in {root}", Span.whole_file(WORKSPACE_FILE),
                    hint="run `aios init DIR` to create a workspace, or pass the workspace folder")
    yaml_files = []
    for folder in _YAML_DIRS:
        for p in _glob(root, folder, ("*.yaml", "*.yml")):
            if p.name.endswith(_SKIP_SUFFIXES):
                continue
            f = _read(root, p, sink)
            if f is not None:
                yaml_files.append(f)
    rules = [f for p in _glob(root, "policies", ("*.rules",)) if (f := _read(root, p, sink)) is not None]
    prompts = [f for p in _glob(root, "prompts", ("*.j2", "*.jinja", "*.jinja2"))
               if (f := _read(root, p, sink)) is not None]
    modules = tuple(p.relative_to(root).as_posix() for p in _glob(root, "connectors", ("*.py",)))
    tests = [f for p in _glob(root, "policies", tuple(f"*{s}" for s in _SKIP_SUFFIXES))
             if (f := _read(root, p, sink)) is not None]
    return WorkspaceSources(root, workspace, tuple(yaml_files), tuple(rules), tuple(prompts), modules, tuple(tests))
