"""Refuse YAML that would exhaust the reader, before a node tree is built from it.

Three limits from `aios.limits` (documented in docs/playbooks.md, "Limits"):

- ``MAX_YAML_BYTES``: a larger file is not parsed at all (`yaml-too-large`);
- ``MAX_YAML_DEPTH``: collections nested deeper are refused (`yaml-too-deep`). libyaml's composer
  recurses in C once per level and crashes the process (a segfault, no exception) at some ten
  thousand levels, so a file that could be that deep is checked here first, on the parser's events
  (libyaml's parser keeps its own stack and never recurses);
- ``MAX_YAML_ALIASES``: the nodes that ``*alias`` references expand to, summed over a file
  (`yaml-alias-limit`). Composing shares an anchored node between its aliases, but everything after
  the loader copies it once per alias: nine levels of nine aliases (a "billion laughs") are ten
  lines of text and 400 million nodes. An alias inside the collection it names never ends.

The event scan costs about as much as composing, so it runs only where it can find something: when
the file could hold aliases (an ``&`` and a ``*``), or could nest deeper than the composer safely
goes (more than `SCAN_ABOVE` of the characters that open a level). Every nesting level of YAML opens
with one of ``[ { - ? :``, so a file with fewer of them cannot be deep; depth beyond the limit in
such a file is found, at the same position, while nodes are built (`aios.load.yaml_reader`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    ScalarEvent,
)

from aios.diagnostics import DiagnosticSink
from aios.limits import MAX_YAML_ALIASES, MAX_YAML_BYTES, MAX_YAML_DEPTH, PayloadError, check_value
from aios.span import Span

__all__ = ["SCAN_ABOVE", "check_size", "needs_scan", "scan_events", "within_limits", "load_plain",
           "too_deep_message", "TOO_DEEP_HINT"]

SCAN_ABOVE = 1000
"""Level-opening characters above which a file is scanned for depth (the composer is safe far beyond)."""

TOO_DEEP_HINT = "workspace files never need this much nesting; flatten the structure"


def too_deep_message() -> str:
    return f"YAML is nested more than {MAX_YAML_DEPTH} levels deep"


def check_size(file: str, text: str, sink: DiagnosticSink) -> bool:
    """False (with a diagnostic) when ``text`` is larger than `MAX_YAML_BYTES` in UTF-8."""
    if len(text) * 4 <= MAX_YAML_BYTES:  # a UTF-8 character is at most four bytes
        return True
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= MAX_YAML_BYTES:
        return True
    sink.report("yaml-too-large", f"the file is {size} bytes; the limit for a YAML file is {MAX_YAML_BYTES} bytes",
                Span.whole_file(file), hint="split it into several files")
    return False


def needs_scan(text: str) -> bool:
    if "&" in text and "*" in text:
        return True
    return sum(text.count(c) for c in "[{-?:") > SCAN_ABOVE


@dataclass
class _Open:
    """A collection whose end event has not come yet."""

    anchor: str | None
    depth: int  # 1 for a document's root collection
    size: int = 1  # nodes, counting what aliases inside it expand to
    deepest: int = 0  # the deepest level reached inside it, aliases included


def scan_events(file: str, yaml: YAML, text: str, sink: DiagnosticSink) -> bool:
    """False (with one diagnostic) when ``text`` nests too deep or its aliases expand too far.

    A YAML error ends the scan with True: the composer then reports it as usual.
    """
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (expanded size, levels)
    stack: list[_Open] = []
    expanded = 0
    try:
        for event in yaml.parse(io.StringIO(text)):
            if isinstance(event, CollectionStartEvent):
                depth = len(stack) + 1
                if depth > MAX_YAML_DEPTH:
                    return _refuse(sink, "yaml-too-deep", too_deep_message(), file, event, TOO_DEEP_HINT)
                stack.append(_Open(event.anchor, depth, deepest=depth))
            elif isinstance(event, CollectionEndEvent):
                done = stack.pop()
                if done.anchor is not None:
                    anchors[done.anchor] = (done.size, done.deepest - done.depth + 1)
                if stack:
                    stack[-1].size += done.size
                    stack[-1].deepest = max(stack[-1].deepest, done.deepest)
            elif isinstance(event, ScalarEvent):
                if event.anchor is not None:
                    anchors[event.anchor] = (1, 0)
                if stack:
                    stack[-1].size += 1
            elif isinstance(event, AliasEvent):
                name = event.anchor
                if any(o.anchor == name for o in stack):
                    return _refuse(sink, "yaml-alias-limit",
                                   f"the alias `*{_short(name)}` is inside the collection it refers to, "
                                   "so it would expand without end", file, event,
                                   "an alias must refer to an anchor defined before it, outside it")
                if name not in anchors:
                    return True  # an undefined alias: the composer reports it
                size, levels = anchors[name]
                if len(stack) + levels > MAX_YAML_DEPTH:
                    return _refuse(sink, "yaml-too-deep", f"{too_deep_message()} once `*{_short(name)}` is "
                                   "expanded", file, event, TOO_DEEP_HINT)
                expanded += size
                if expanded > MAX_YAML_ALIASES:
                    return _refuse(sink, "yaml-alias-limit",
                                   f"aliases in this file expand to more than {MAX_YAML_ALIASES} nodes",
                                   file, event, "each alias copies its anchor's whole value; use fewer or smaller "
                                   "aliases (nested aliases multiply)")
                if stack:
                    stack[-1].size += size
                    stack[-1].deepest = max(stack[-1].deepest, len(stack) + levels)
            elif isinstance(event, DocumentStartEvent):
                anchors.clear()  # anchors belong to one document
    except (YAMLError, ValueError, UnicodeError):
        return True
    return True


def within_limits(text: str, yaml: YAML) -> bool:
    """For lenient readers outside the compiler (they report nothing): may ``text`` be composed?"""
    sink = DiagnosticSink()
    return check_size("", text, sink) and (not needs_scan(text) or scan_events("", yaml, text, sink))


def load_plain(text: str) -> Any:
    """Plain data from ``text`` for a lenient reader (aios.yaml read without compiling, note front
    matter), or None when it is not YAML or breaks a limit: such readers fall back to defaults and
    `aios validate` reports the problem with its position."""
    yaml = YAML(typ="safe")
    try:
        if not within_limits(text, yaml):
            return None
        return check_value(yaml.load(text), what="the file")  # depth, finite numbers, text
    except (YAMLError, RecursionError, ValueError, PayloadError):
        return None


def _short(name: str) -> str:
    return name if len(name) <= 40 else name[:40] + "…"


def _refuse(sink: DiagnosticSink, code: str, message: str, file: str, event: Any, hint: str) -> bool:
    mark = event.start_mark
    sink.report(code, message, Span.point(file, mark.line, mark.column), hint=hint)
    return False
