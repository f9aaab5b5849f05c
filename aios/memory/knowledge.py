"""Knowledge notes: markdown and text files cut into heading-sized chunks with their line ranges.

A markdown chunk is one heading and the lines up to the next heading (any level), titled with its
heading path (``Pricing › Day rates``) so a hit reads in context. Text before the first heading
is a chunk of its own. Headings inside fenced code blocks are not headings. A chunk longer than
``MAX_CHUNK_CHARS`` is split at blank lines. Plain text files are chunked by paragraphs.

Optional front matter (``---`` … ``---`` at the top) may give ``title`` and ``tags``; the folders
between the knowledge folder and the file are tags too (``knowledge/suppliers/terms.md`` →
``suppliers``). Every chunk's body repeats its title, the convention the ranking relies on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from aios.memory.model import DocKind, FileSource, IndexDocument

__all__ = ["KNOWLEDGE_SUFFIXES", "MAX_CHUNK_CHARS", "Chunk", "chunk_text", "note_documents", "file_digest",
           "knowledge_files", "relative_path"]

KNOWLEDGE_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text"})
MAX_CHUNK_CHARS = 3000

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


@dataclass(frozen=True, slots=True)
class Chunk:
    title: str
    text: str
    line_start: int  # 1-based inclusive
    line_end: int
    heading: str  # the chunk's own heading ("" for text before the first one)


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def relative_path(path: Path, root: Path) -> str:
    """Workspace-relative POSIX path (absolute when the file is outside the workspace)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def knowledge_files(folder: Path) -> Iterator[Path]:
    """Every note under ``folder`` (hidden files and folders skipped), in a stable order."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in KNOWLEDGE_SUFFIXES:
            yield path


def _front_matter(lines: list[str]) -> tuple[dict[str, Any], int]:
    """(metadata, number of lines it takes) for a leading ``---`` block; ({}, 0) when absent or bad."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, min(len(lines), 200)):
        if lines[end].strip() in ("---", "..."):
            from aios.load.yaml_limits import load_plain

            block = "\n".join(lines[1:end])
            data = load_plain(block) if block.strip() else {}
            if data is None:
                return {}, 0
            return (data if isinstance(data, dict) else {}), end + 1
    return {}, 0


def _split_long(title: str, heading: str, lines: list[tuple[int, str]]) -> Iterator[Chunk]:
    """Cut a run of (line number, text) at blank lines into chunks of at most MAX_CHUNK_CHARS (a
    single paragraph longer than that is cut between lines)."""
    paragraphs: list[list[tuple[int, str]]] = [[]]
    for number, text in lines:
        if text.strip():
            paragraphs[-1].append((number, text))
        elif paragraphs[-1]:
            paragraphs.append([])
    pieces: list[list[tuple[int, str]]] = []
    for para in (p for p in paragraphs if p):
        piece: list[tuple[int, str]] = []
        for item in para:  # an over-long paragraph is cut between its lines
            if piece and _size(piece) + len(item[1]) + 1 > MAX_CHUNK_CHARS:
                pieces.append(piece)
                piece = []
            piece.append(item)
        pieces.append(piece)
    part: list[tuple[int, str]] = []
    n = 0
    for piece in pieces:
        if part and _size(part) + _size(piece) + 2 > MAX_CHUNK_CHARS:
            n += 1
            yield _chunk(title, heading, n, part)
            part = []
        part = [*part, (0, ""), *piece] if part else piece
    if part:
        yield _chunk(title, heading, n + 1, part)


def _size(lines: list[tuple[int, str]]) -> int:
    return sum(len(t) + 1 for _, t in lines)


def _chunk(title: str, heading: str, n: int, part: list[tuple[int, str]]) -> Chunk:
    numbered = [num for num, _ in part if num]
    text = "\n".join(t for _, t in part).strip()
    return Chunk(title if n == 1 else f"{title} (part {n})", text, numbered[0], numbered[-1], heading)


def chunk_text(text: str, name: str, *, markdown: bool = True) -> tuple[list[Chunk], dict[str, Any]]:
    """Chunks of one file's text and its front matter. ``name`` titles text before any heading."""
    lines = text.splitlines()
    meta, skip = _front_matter(lines) if markdown else ({}, 0)
    if not markdown:
        return list(_split_long(str(meta.get("title") or name), "", list(enumerate(lines, 1)))), meta
    doc_title = str(meta.get("title") or _first_h1(lines[skip:]) or name)
    sections: list[tuple[list[str], list[tuple[int, str]]]] = []  # (heading path, lines)
    path: list[tuple[int, str]] = []  # (level, heading)
    current: list[tuple[int, str]] = []
    current_path: list[str] = []
    in_fence = False
    for number, line in enumerate(lines, 1):
        if number <= skip:
            continue
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            sections.append((current_path, current))
            level, heading = len(m.group(1)), m.group(2).strip()
            path = [(lv, h) for lv, h in path if lv < level] + [(level, heading)]
            current_path = [h for _, h in path]
            current = [(number, line)]
        else:
            current.append((number, line))
    sections.append((current_path, current))
    chunks: list[Chunk] = []
    for heading_path, body in sections:
        content = body[1:] if heading_path else body
        if not any(t.strip() for _, t in content):
            continue
        if heading_path:
            crumbs = heading_path if heading_path[0] == doc_title else [doc_title, *heading_path]
            title = " › ".join(crumbs)
            heading = heading_path[-1]
        else:
            title, heading = doc_title, ""
        parts = list(_split_long(title, heading, content))
        if heading_path and parts:  # the first part's range starts at its heading line
            first = parts[0]
            parts[0] = Chunk(first.title, first.text, body[0][0], first.line_end, first.heading)
        chunks.extend(parts)
    return chunks, meta


def _first_h1(lines: list[str]) -> str | None:
    in_fence = False
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else _HEADING.match(line)
        if m and len(m.group(1)) == 1:
            return m.group(2).strip()
    return None


def note_documents(path: Path, root: Path, knowledge_dir: Path | None = None,
                   data: bytes | None = None) -> list[IndexDocument]:
    """The index documents of one knowledge file (raises OSError / UnicodeDecodeError)."""
    raw = path.read_bytes() if data is None else data
    text = raw.decode("utf-8")
    rel = relative_path(path, root)
    markdown = path.suffix.lower() in (".md", ".markdown")
    chunks, meta = chunk_text(text, path.stem.replace("-", " ").replace("_", " ").strip().capitalize(),
                              markdown=markdown)
    tags = _tags(meta.get("tags"))
    if knowledge_dir is not None:
        try:
            folders = path.resolve().relative_to(knowledge_dir.resolve()).parts[:-1]
        except ValueError:
            folders = ()
        tags += tuple(f.lower() for f in folders)
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    docs = []
    for chunk in chunks:
        body = f"{chunk.title}\n{chunk.text}"
        docs.append(IndexDocument(
            id=f"note:{rel}#L{chunk.line_start}", kind=DocKind.NOTE, title=chunk.title, body=body,
            provenance=FileSource(rel, chunk.line_start, chunk.line_end), tags=tuple(dict.fromkeys(tags)),
            updated=mtime, fields={"path": rel, "heading": chunk.heading,
                                   "folder": str(PurePosixPath(rel).parent)},
            group=f"file:{rel}"))
    return docs


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list):
        items = [str(v).strip() for v in value]
    else:
        items = []
    return tuple(i.lower() for i in items if i)
