"""Read YAML files into span-carrying nodes; every YAML problem becomes a positioned diagnostic.

ruamel.yaml's composer gives nodes with marks but does not check duplicate keys (its constructor
does, and stops at the first); we build our own nodes from the composed tree and report each one.
"""

from __future__ import annotations

import io
import re
import threading
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import BaseResolver

from aios.diagnostics import DiagnosticSink, Related
from aios.limits import MAX_YAML_DEPTH
from aios.load.nodes import Scalar, YDocument, YMap, YNode, YScalar, YSeq
from aios.load.yaml_limits import TOO_DEEP_HINT, check_size, needs_scan, scan_events, too_deep_message
from aios.span import Span

__all__ = ["read_yaml"]

_TAG = "tag:yaml.org,2002:"
_IMPLICIT_STR = BaseResolver.DEFAULT_SCALAR_TAG  # the tag of every untagged scalar (see `_PlainResolver`)


def _span(file: str, node: Node) -> Span:
    s, e = node.start_mark, node.end_mark
    sl, sc, el, ec = s.line, s.column, e.line, e.column
    if el < sl or (el == sl and ec <= sc):
        return Span(file, sl, sc, sl, sc + 1)
    return Span(file, sl, sc, el, ec)


def _tag(node: Node) -> str:
    ctag = getattr(node, "ctag", None)
    return str(ctag) if ctag is not None else str(getattr(node.tag, "value", node.tag))


# YAML 1.2 core schema, resolved here for plain scalars (ruamel's resolver is left out: it is the
# slowest part of composing, and this keeps both parsers' results identical).
_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_TRUE = frozenset(("true", "True", "TRUE"))
_FALSE = frozenset(("false", "False", "FALSE"))
_INT_RE = re.compile(r"^[-+]?[0-9][0-9_]*$|^0o[0-7_]+$|^0x[0-9a-fA-F_]+$")
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$")
_INF = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf")}


def _scalar(node: ScalarNode) -> Scalar:
    text: str = node.value
    if node.style:  # quoted or block scalar: always a string
        return text
    if node.ctag is not _IMPLICIT_STR:  # an explicit tag (rare): look at it
        tag = _tag(node)
        if tag == _TAG + "str" or (tag != "?" and not tag.startswith(_TAG)):
            return text  # `!!str 12` is the text "12"; an explicit local tag keeps the text too
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT_RE.match(text):
        clean = text.replace("_", "")
        try:
            if clean.startswith(("0o", "0x")):
                return int(clean, 0)
            return int(clean, 10)
        except ValueError:
            return text
    if _FLOAT_RE.match(text):
        try:
            return float(text.replace("_", ""))
        except ValueError:
            return text
    low = text.lower()
    if low in _INF:
        return _INF[low]
    return text  # `.nan` stays text: NaN never compares equal; the schema will object


class _Builder:
    """Nodes from the composed tree. Depth is checked here too: a file too small to be scanned
    (`aios.load.yaml_limits`) may still nest a little beyond the limit; ``refused`` then says so."""

    def __init__(self, file: str, sink: DiagnosticSink) -> None:
        self.file = file
        self.sink = sink
        self.refused = False
        self._depth = 0  # collections open around the node being built

    def build(self, node: Node) -> YNode:
        if isinstance(node, ScalarNode):
            return self._build(node)
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                if not self.refused:
                    mark = node.start_mark
                    self.sink.report("yaml-too-deep", too_deep_message(),
                                     Span.point(self.file, mark.line, mark.column), hint=TOO_DEEP_HINT)
                self.refused = True
                return YScalar(None, _span(self.file, node))
            return self._build(node)
        finally:
            self._depth -= 1

    def _build(self, node: Node) -> YNode:
        span = _span(self.file, node)
        if isinstance(node, ScalarNode):
            return YScalar(_scalar(node), span, quoted=bool(node.style))
        if isinstance(node, SequenceNode):
            return YSeq(tuple(self.build(i) for i in node.value), span)
        if isinstance(node, MappingNode):
            entries: list[tuple[YScalar, YNode]] = []
            seen: dict[object, YScalar] = {}
            merges: list[YMap] = []
            for k, v in node.value:
                if isinstance(k, ScalarNode) and k.value == "<<" and not k.style and isinstance(v, MappingNode):
                    merged = self.build(v)
                    if isinstance(merged, YMap):  # else refused as too deep (and reported)
                        merges.append(merged)  # merged keys only fill in what the mapping does not set
                    continue
                if not isinstance(k, ScalarNode):
                    self.sink.report("yaml-syntax", "mapping keys must be plain scalars, not collections",
                                     _span(self.file, k))
                    continue
                key = YScalar(_scalar(k), _span(self.file, k), bool(k.style))
                if key.value in seen:
                    first = seen[key.value]
                    self.sink.report(
                        "yaml-duplicate-key",
                        f"duplicate key `{key.value}` (first defined on line {first.span.line + 1})",
                        key.span,
                        hint="a later key would silently replace the earlier one; remove or rename one",
                        related=[Related(first.span, "first defined here")],
                    )
                    continue
                seen[key.value] = key
                entries.append((key, self.build(v)))
            for merged in merges:
                for mk, mv in merged.entries:
                    if mk.value not in seen:
                        seen[mk.value] = mk
                        entries.append((mk, mv))
            return YMap(tuple(entries), span)
        return YScalar(None, span)  # pragma: no cover - ruamel only makes the three kinds


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _classify(err: MarkedYAMLError, lines: list[str]) -> tuple[str, str, str | None]:
    """Turn ruamel's scanner/parser wording into our code, a message and a hint."""
    problem = (err.problem or str(err)).strip()
    context = (err.context or "").strip()
    mark = err.problem_mark
    line = lines[mark.line] if mark is not None and 0 <= mark.line < len(lines) else ""
    if "'\\t'" in problem or "\t" in line[: _indent_of(line) + 1]:
        return ("yaml-tab", "tab character used for indentation",
                "YAML indentation must use spaces; replace the tab with spaces")
    if "expected <block end>" in problem or "did not find expected key" in problem:
        return ("yaml-indent", "this line's indentation does not match the block it belongs to",
                "line it up with the keys (or list items) of the same block")
    if "mapping values are not allowed here" in problem:
        prev = next((lines[i] for i in range((mark.line if mark else 0) - 1, -1, -1)
                     if lines[i].strip() and not lines[i].lstrip().startswith("#")), "")
        if mark is not None and ": " not in line[: mark.column] and _indent_of(line) != _indent_of(prev):
            return ("yaml-indent", "unexpected indentation: this key is indented deeper than its siblings",
                    "keys of one mapping must start in the same column")
        return ("yaml-syntax", "a `: ` inside a plain value starts a new mapping, which is not allowed here",
                "quote the value, e.g. `key: \"a: b\"`")
    msg = problem
    if context:
        msg = f"{problem} ({context})"
    hint = None
    if "quoted scalar" in context:
        hint = "a quoted string is not closed"
    elif "flow sequence" in context or "flow mapping" in context:
        hint = "a `[` or `{` is not closed"
    elif "alias" in problem:
        hint = "define the anchor (`&name`) before using `*name`"
    return ("yaml-syntax", msg.replace("<stream end>", "end of file"), hint)


class _PlainResolver(BaseResolver):
    """Resolves only collection tags; plain scalars are typed by `_scalar` (YAML 1.2 core)."""

    def __init__(self, version: object = None, loader: object = None, loadumper: object = None) -> None:
        super().__init__(loadumper=loadumper)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """What `BaseResolver.resolve` answers with no implicit or path resolvers, without the search
        (it runs for every node)."""
        if kind is ScalarNode:
            return _IMPLICIT_STR
        return self.DEFAULT_SEQUENCE_TAG if kind is SequenceNode else self.DEFAULT_MAPPING_TAG

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)


_local = threading.local()


def _fast_yaml() -> YAML:
    """libyaml's parser through ruamel.yaml.clib when installed (about 7× faster), else pure Python.

    One instance per thread, reused file after file: building one costs about a third of composing a
    small file, and each ``compose_all`` makes (and afterwards disposes of) its own parser anyway.
    """
    yaml: YAML | None = getattr(_local, "yaml", None)
    if yaml is None:
        try:
            yaml = YAML(typ="safe", pure=False)
        except Exception:  # pragma: no cover - clib missing or broken on this platform
            yaml = YAML(typ="safe", pure=True)
        yaml.Resolver = _PlainResolver
        _local.yaml = yaml
    return yaml


def read_yaml(file: str, text: str, sink: DiagnosticSink) -> list[YDocument]:
    """Parse ``text`` (the contents of workspace-relative ``file``) into documents.

    On a YAML error nothing from this file is returned; the error is reported with its position.
    Valid files go through the fast parser; a file with an error is parsed again by ruamel's pure
    round-trip parser, whose messages and marks the classification below is written against.
    """
    if not check_size(file, text, sink):
        return []
    scanned = needs_scan(text)
    if scanned and not scan_events(file, _fast_yaml(), text, sink):
        return []  # too deep for the composer, or an alias bomb: refused before composing
    lines = text.splitlines()
    try:
        nodes = list(_fast_yaml().compose_all(io.StringIO(text)))
    except (YAMLError, ValueError, UnicodeError):
        nodes = None
    if nodes is None:
        if not scanned and not scan_events(file, _fast_yaml(), text, sink):
            return []  # a nesting problem before the syntax error: the pure parser would recurse into it
        return _read_slow(file, text, lines, sink)
    return _build_documents(file, nodes, sink)


def _read_slow(file: str, text: str, lines: list[str], sink: DiagnosticSink) -> list[YDocument]:
    yaml = YAML(typ="rt", pure=True)
    yaml.Resolver = _PlainResolver
    try:
        nodes = list(yaml.compose_all(io.StringIO(text)))
    except MarkedYAMLError as err:
        code, msg, hint = _classify(err, lines)
        mark = err.problem_mark or err.context_mark
        if mark is None:
            span = Span.whole_file(file)
        else:
            line = min(mark.line, max(len(lines) - 1, 0))
            col = mark.column if line == mark.line else len(lines[line]) if lines else 0
            span = Span.point(file, line, col)
        sink.report(code, msg, span, hint=hint)
        return []
    except YAMLError as err:  # reader errors: control characters, bad encoding
        mark = getattr(err, "get_mark", lambda: None)()
        pos = getattr(err, "position", None)
        span = Span.whole_file(file)
        if mark is not None:
            span = Span.point(file, mark.line, mark.column)
        elif isinstance(pos, int):
            before = text[:pos]
            span = Span.point(file, before.count("\n"), pos - (before.rfind("\n") + 1))
        sink.report("yaml-syntax", f"the file contains characters YAML does not allow: {err}".split("\n")[0],
                    span, hint="remove control characters; files must be UTF-8 text")
        return []
    except RecursionError:
        sink.report("yaml-syntax", "YAML nesting is too deep", Span.whole_file(file))
        return []
    return _build_documents(file, nodes, sink)


def _build_documents(file: str, nodes: list[Node], sink: DiagnosticSink) -> list[YDocument]:
    builder = _Builder(file, sink)
    docs = []
    for i, node in enumerate(nodes):
        if node is None:
            continue
        try:
            root = builder.build(node)
        except RecursionError:
            sink.report("yaml-syntax", "YAML nesting is too deep", _span(file, node))
            continue
        docs.append(YDocument(file, i, root, root.span))
    return [] if builder.refused else docs
