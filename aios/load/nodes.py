"""YAML nodes with spans: the loader's output, and the last place raw YAML structure exists."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from aios.span import Span

__all__ = ["YScalar", "YSeq", "YMap", "YNode", "YDocument", "Path", "SpanIndex", "to_python", "index_spans"]

Scalar = str | int | float | bool | None
Path = tuple[str | int, ...]


class YScalar(NamedTuple):
    value: Scalar
    span: Span
    quoted: bool = False


class YSeq(NamedTuple):
    items: tuple[YNode, ...]
    span: Span


class YMap(NamedTuple):
    entries: tuple[tuple[YScalar, YNode], ...]
    span: Span

    def get(self, key: str) -> YNode | None:
        for k, v in self.entries:
            if k.value == key:
                return v
        return None

    def key_node(self, key: str) -> YScalar | None:
        for k, _ in self.entries:
            if k.value == key:
                return k
        return None

    def keys(self) -> Iterator[str]:
        for k, _ in self.entries:
            yield str(k.value)


YNode = YScalar | YSeq | YMap


@dataclass(frozen=True, slots=True)
class YDocument:
    """One YAML document of a file (files may hold several, separated by ``---``)."""

    file: str
    index: int
    root: YNode
    span: Span


def to_python(node: YNode) -> object:
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [to_python(i) for i in node.items]
    return {str(k.value): to_python(v) for k, v in node.entries}


class SpanIndex:
    """Maps a path inside a document (``("steps", 2, "agent")``) to the span of its value or key.

    Documents built from YAML keep one of these, so later stages can blame the exact value.
    """

    __slots__ = ("_values", "_keys", "root")

    def __init__(self, root: Span) -> None:
        self.root = root
        self._values: dict[Path, Span] = {(): root}
        self._keys: dict[Path, Span] = {}

    def add(self, path: Path, value: Span, key: Span | None) -> None:
        self._values[path] = value
        if key is not None:
            self._keys[path] = key

    def value(self, path: Path) -> Span:
        """The span of the value at ``path``, or of the nearest enclosing node that exists."""
        p = tuple(path)
        while p not in self._values:
            p = p[:-1]
        return self._values[p]

    def key(self, path: Path) -> Span:
        """The span of the key at ``path`` (falls back to the value's span)."""
        p = tuple(path)
        if p in self._keys:
            return self._keys[p]
        return self.value(p)

    def has(self, path: Path) -> bool:
        return tuple(path) in self._values


def index_spans(node: YNode) -> SpanIndex:
    index = SpanIndex(node.span)

    def walk(n: YNode, path: Path) -> None:
        if isinstance(n, YMap):
            for k, v in n.entries:
                p = (*path, str(k.value))
                index.add(p, v.span, k.span)
                walk(v, p)
        elif isinstance(n, YSeq):
            for i, item in enumerate(n.items):
                p = (*path, i)
                index.add(p, item.span, None)
                walk(item, p)

    walk(node, ())
    return index
