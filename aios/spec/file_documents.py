"""One workspace file read into spec documents, and a cache of that by file content.

Reading a file (YAML to nodes, nodes to pydantic documents) depends on nothing but its path and
text, so a recompile can reuse what an earlier compile read from every file whose text is unchanged
and get the same documents and the same diagnostics. `aios dev` keeps one cache for its reloads; a
single `aios validate` does not need one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aios.diagnostics import Diagnostic, DiagnosticSink
from aios.load.nodes import YMap, YScalar
from aios.load.workspace_files import SourceFile
from aios.load.yaml_reader import read_yaml
from aios.spec.build import KIND_MODELS, SpecDocument, build_document

__all__ = ["FileDocuments", "DocumentCache", "read_file_documents", "DOC_KINDS"]

DOC_KINDS = tuple(k for k in KIND_MODELS if k != "workspace")


@dataclass(frozen=True, slots=True)
class FileDocuments:
    text: str
    docs: tuple[SpecDocument, ...]
    broken: frozenset[tuple[str, str]]  # (kind, name) of documents that did not build
    diagnostics: tuple[Diagnostic, ...]


def read_file_documents(f: SourceFile) -> FileDocuments:
    sink = DiagnosticSink()
    docs: list[SpecDocument] = []
    broken: set[tuple[str, str]] = set()
    read = read_yaml(f.path, f.text, sink)
    if sink.has_errors:  # YAML gave up on (part of) the file: what it declares may be referenced elsewhere
        broken |= _declared_names(f.text)
    for d in read:
        built = build_document(d, sink, allowed_kinds=DOC_KINDS)
        if built is not None:
            docs.append(built)
            continue
        kind = d.root.get("kind") if isinstance(d.root, YMap) else None
        name = _broken_name(d.root)
        if isinstance(kind, YScalar) and name is not None:
            broken.add((str(kind.value), name))
    return FileDocuments(f.text, tuple(docs), frozenset(broken), tuple(sink.items))


_TOP_KIND = re.compile(r"^kind:\s*[\"']?([A-Za-z_]+)", re.M)
_TOP_NAME = re.compile(r"^name:\s*[\"']?([^\s\"'#,{}\[\]]+)", re.M)


def _declared_names(text: str) -> set[tuple[str, str]]:
    """(kind, name) of each `---`-separated document, read line by line from text YAML could not parse,
    so references to them are not reported as unknown (one syntax error, one diagnostic)."""
    out: set[tuple[str, str]] = set()
    for chunk in re.split(r"^---[ \t]*$", text, flags=re.M):
        kind, name = _TOP_KIND.search(chunk), _TOP_NAME.search(chunk)
        if kind is not None and name is not None:
            out.add((kind.group(1), name.group(1)))
    return out


def _broken_name(root: object) -> str | None:
    if isinstance(root, YMap):
        name = root.get("name")
        if isinstance(name, YScalar) and name.value is not None:
            return str(name.value)
    return None


class DocumentCache:
    """What each file read to, by path; an entry is used only while the file's text is the same."""

    def __init__(self) -> None:
        self._files: dict[str, FileDocuments] = {}

    def read(self, f: SourceFile) -> FileDocuments:
        known = self._files.get(f.path)
        if known is not None and known.text == f.text:
            return known
        fresh = self._files[f.path] = read_file_documents(f)
        return fresh

    def keep_only(self, paths: set[str]) -> None:
        """Forget files that are gone (so a long `aios dev` session does not hold deleted files)."""
        for path in set(self._files) - paths:
            del self._files[path]

    def __len__(self) -> int:
        return len(self._files)
