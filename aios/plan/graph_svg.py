"""A playbook graph as a standalone SVG, laid out here (``aios.plan.graph_layout``): no Graphviz, no
network. One ``<g class="node">`` holding one ``<rect>`` per step, with ``data-step`` naming it; colours
are presentation attributes, so a page's CSS can restyle them by class (``kind-*``, ``reversible``,
``irreversible``, ``approval``, ``highlight``, ``status-*``)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from xml.sax.saxutils import escape

from aios.plan.graph import EdgeKind, GraphNode, PlaybookGraph
from aios.plan.graph_layout import Box, Layout, layered_layout
from aios.plan.graph_style import HIGHLIGHT, IRREVERSIBLE, STROKE, Marks, css_name, marks
from aios.plan.plan import SideEffect, StepKind

__all__ = ["to_svg"]

_FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
_SIZE = 12.0  # font size of the detail lines; the step id is bold at the same size
_CHAR = _SIZE * 0.6  # a monospace character's advance
_LINE = 16.0
_PAD_X, _PAD_Y = 10.0, 8.0
_MAX_CHARS = 56
_TITLE_H = 28.0
_RADIUS = {StepKind.AGENT: 8.0, StepKind.RETRIEVE: 8.0, StepKind.BRANCH: 18.0, StepKind.GATE: 3.0}
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str, limit: int | None = None) -> str:
    """One line of visible text: control characters and line breaks become spaces, cut at ``limit``."""
    text = _XML_ILLEGAL.sub(" ", " ".join(text.splitlines()))
    if limit is not None and _width(text) > limit:
        while text and _width(text) > limit - 1:
            text = text[:-1]
        text += "…"
    return text


def _width(text: str) -> int:
    """Columns ``text`` takes in a monospace font (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _attr(text: str) -> str:
    return escape(_XML_ILLEGAL.sub(" ", text), {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _lines(n: GraphNode, status: str | None) -> list[str]:
    lines = [_clean(line, _MAX_CHARS) for line in n.lines]
    if status is not None:
        lines.append(_clean(f"● {status}", _MAX_CHARS))
    return lines


def to_svg(graph: PlaybookGraph, *, highlight: Collection[str] = (), statuses: Mapping[str, str] | None = None,
           id_prefix: str = "aios-graph") -> str:
    """A standalone SVG document of ``graph``; ``id_prefix`` keeps element ids (arrow markers) unique
    when several graphs share one HTML page."""
    m = marks(graph, highlight, statuses)
    prefix = css_name(id_prefix)
    text = {n.id: _lines(n, m.statuses.get(n.id)) for n in graph.nodes}
    sizes = {i: (max(96.0, max(_width(t) for t in ls) * _CHAR + 2 * _PAD_X), len(ls) * _LINE + 2 * _PAD_Y)
             for i, ls in text.items()}
    layout = layered_layout(graph.ids, [(e.source, e.target) for e in graph.edges], sizes, top=_TITLE_H)
    title = _clean(f"{graph.name} · {graph.trigger}")
    width = max(layout.width, _width(title) * _CHAR + 32)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="aios-graph" width="{width:.0f}" '
           f'height="{layout.height:.0f}" viewBox="0 0 {width:.0f} {layout.height:.0f}" '
           f'font-family="{_FONT}" font-size="{_SIZE:g}" role="img">',
           f"<title>{escape(_clean('playbook ' + graph.name))}</title>",
           "<defs>", _marker(f"{prefix}-arrow", STROKE), _marker(f"{prefix}-arrow-lit", HIGHLIGHT), "</defs>",
           f'<text class="graph-title" x="16" y="20" font-weight="bold" fill="#0f172a">{escape(title)}</text>',
           '<g class="edges">']
    out += _edges(graph, layout, m, prefix)
    out.append('</g>\n<g class="nodes">')
    boxes = {b.id: b for b in layout.boxes}
    out += [_node(n, boxes[n.id], text[n.id], m) for n in graph.nodes]
    out.append("</g>\n</svg>")
    return "\n".join(out) + "\n"


def _marker(marker_id: str, color: str) -> str:
    return (f'<marker id="{marker_id}" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" '
            f'markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>')


def _edges(graph: PlaybookGraph, layout: Layout, m: Marks, prefix: str) -> list[str]:
    out = []
    for e, r in zip(graph.edges, layout.routes, strict=True):
        lit = m.is_highlighted_edge(e)
        color, marker = (HIGHLIGHT, f"{prefix}-arrow-lit") if lit else (STROKE, f"{prefix}-arrow")
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in r.points)
        dash = ' stroke-dasharray="5 4"' if e.kind is EdgeKind.ELSE else ""
        classes = f"edge edge-{e.kind.value}" + (" highlight" if lit else "")
        tip = f"<title>{escape(_clean(f'{e.label}: {e.condition}'))}</title>" if e.condition is not None else ""
        label = ""
        if e.label:
            (x1, y1), (x2, y2) = r.points[0], r.points[1]
            label = (f'<text x="{(x1 + x2) / 2 + 4:.1f}" y="{(y1 + y2) / 2:.1f}" font-size="11" fill="{color}" '
                     f'stroke="#ffffff" stroke-width="3" paint-order="stroke">{escape(e.label)}</text>')
        out.append(f'<g class="{classes}" data-source="{_attr(e.source)}" data-target="{_attr(e.target)}">{tip}'
                   f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="{2.5 if lit else 1.3}"'
                   f'{dash} marker-end="url(#{marker})"/>{label}</g>')
    return out


def _node(n: GraphNode, b: Box, lines: list[str], m: Marks) -> str:
    stroke, stroke_width = m.stroke(n)
    dash = ' stroke-dasharray="6 3"' if n.side_effect is SideEffect.REVERSIBLE else ""
    status = m.statuses.get(n.id)
    data = f' data-status="{_attr(status)}"' if status is not None else ""
    tip = n.id + (f" ({status})" if status else "") + (f"\n{n.description}" if n.description else "")
    parts = [f'<g class="node {" ".join(m.classes(n))}" data-step="{_attr(n.id)}"{data}>',
             f"<title>{escape(_XML_ILLEGAL.sub(' ', tip))}</title>"]
    if n.kind is StepKind.MAP:  # a stack of cards: one outline behind, offset
        parts.append(f'<path d="M{b.x + 4:.1f},{b.y:.1f} V{b.y - 4:.1f} H{b.x + b.width + 4:.1f} '
                     f'V{b.y + b.height - 4:.1f} H{b.x + b.width:.1f}" fill="none" stroke="{STROKE}"/>')
    parts.append(f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.width:.1f}" height="{b.height:.1f}" '
                 f'rx="{_RADIUS.get(n.kind, 0.0):g}" fill="{m.fill(n)}" stroke="{stroke}" '
                 f'stroke-width="{stroke_width:g}"{dash}/>')
    x = b.x + _PAD_X
    for i, line in enumerate(lines):
        y = b.y + _PAD_Y + _LINE * i + _SIZE
        weight = ' font-weight="bold"' if i == 0 else ""
        red = line.startswith(SideEffect.IRREVERSIBLE.value)
        fill = IRREVERSIBLE if red else "#0f172a" if i == 0 else "#334155"
        parts.append(f'<text x="{x:.1f}" y="{y:.1f}"{weight} fill="{fill}">{escape(line)}</text>')
    parts.append("</g>")
    return "".join(parts)
