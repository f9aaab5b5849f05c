"""Small server-rendered SVG bar charts (no JavaScript): stacked bars per day or week.

Colours are presentation attributes, not ``style``, so the pages' CSP (``style-src 'self'``) holds;
every label is escaped. The chart's data stays in the page's JSON beside the markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from html import escape

__all__ = ["bar_chart", "days", "PALETTE", "STATUS_COLOURS"]

PALETTE = ("#1f5fae", "#d97706", "#1d7a3a", "#b42318", "#7c3aed", "#0e7490", "#6b7580", "#be185d")
STATUS_COLOURS = {"completed": "#1d7a3a", "failed": "#b42318", "rejected": "#e11d48", "cancelled": "#9ca3af",
                  "waiting": "#d97706", "running": "#1f5fae", "admitted": "#60a5fa", "compensating": "#7c3aed"}


def days(first: date, last: date) -> list[str]:
    """Every day from ``first`` to ``last`` as ``YYYY-MM-DD``."""
    n = (last - first).days
    return [(first + timedelta(days=i)).isoformat() for i in range(n + 1)]


def _fmt(value: float, unit: str) -> str:
    if unit == "$":
        return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def bar_chart(labels: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, unit: str = "",
              colours: Mapping[str, str] | None = None, width: int = 720, height: int = 180) -> str:
    """An SVG of one bar per label, each stacked from ``series`` (name -> a value per label), with a
    legend, the maximum on the axis and a tooltip (``<title>``) per segment."""
    colours = colours or {}
    names = [n for n in series if any(series[n])] or list(series)[:1]
    totals = [sum(series[n][i] for n in names) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    left, right, head, foot = 56, 8, 24, 36
    plot_w, plot_h = width - left - right, height - head - foot
    step = plot_w / max(len(labels), 1)
    bar = max(step * 0.8, 1.0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" font-family="system-ui, sans-serif" font-size="11">',
           f"<title>{escape(title)}</title>",
           f'<line x1="{left}" y1="{head + plot_h}" x2="{width - right}" y2="{head + plot_h}" stroke="#9ca3af"/>',
           f'<text x="{left - 4}" y="{head + 4}" text-anchor="end" fill="#6b7580">{escape(_fmt(top, unit))}</text>',
           f'<text x="{left - 4}" y="{head + plot_h}" text-anchor="end" fill="#6b7580">0</text>']
    for i, label in enumerate(labels):
        x = left + i * step + (step - bar) / 2
        y = float(head + plot_h)
        for k, name in enumerate(names):
            value = series[name][i]
            if not value:
                continue
            h = value / top * plot_h
            y -= h
            fill = colours.get(name, PALETTE[k % len(PALETTE)])
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{escape(fill)}">'
                       f"<title>{escape(label)} · {escape(name)}: {escape(_fmt(value, unit))}</title></rect>")
    if labels:
        for i in sorted({0, len(labels) - 1}):
            anchor = "start" if i == 0 else "end"
            x = left + i * step + (step / 2 if len(labels) == 1 else (0 if i == 0 else step))
            out.append(f'<text x="{x:.1f}" y="{head + plot_h + 14}" text-anchor="{anchor}" '
                       f'fill="#6b7580">{escape(labels[i])}</text>')
    x = float(left)
    for k, name in enumerate(names):
        fill = colours.get(name, PALETTE[k % len(PALETTE)])
        out.append(f'<rect x="{x:.0f}" y="{height - 12}" width="10" height="10" fill="{escape(fill)}"/>'
                   f'<text x="{x + 14:.0f}" y="{height - 3}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    out.append("</svg>")
    return "\n".join(out)
