"""A layered (Sugiyama-style) layout of a small directed acyclic graph, top to bottom, in pure Python.

Layers by longest path; an edge that spans several layers passes through a virtual point in each
layer between, so it never cuts a box; order within a layer by barycenter sweeps, keeping the order
with the fewest crossings; x by the neighbours' mean, then pushed apart so no two boxes overlap.
Units are SVG user units (pixels).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Box", "Route", "Layout", "layered_layout"]

Point = tuple[float, float]
_SWEEPS = 8
_LANE = 12.0  # the width a virtual point (an edge passing through a layer) takes


@dataclass(frozen=True, slots=True)
class Box:
    id: str
    x: float  # left
    y: float  # top
    width: float
    height: float

    def overlaps(self, other: Box) -> bool:
        return (self.x < other.x + other.width and other.x < self.x + self.width
                and self.y < other.y + other.height and other.y < self.y + self.height)


@dataclass(frozen=True, slots=True)
class Route:
    source: str
    target: str
    points: tuple[Point, ...]  # from the source's bottom to the target's top


@dataclass(frozen=True, slots=True)
class Layout:
    width: float
    height: float
    boxes: tuple[Box, ...]  # in the order of the ids given
    routes: tuple[Route, ...]  # in the order of the edges given


def layered_layout(ids: Sequence[str], edges: Sequence[tuple[str, str]], sizes: Mapping[str, tuple[float, float]],
                   *, gap_x: float = 36.0, gap_y: float = 56.0, margin: float = 16.0, top: float = 0.0) -> Layout:
    """Place boxes of ``sizes`` (width, height) for nodes ``ids`` (in a topological order) and route
    ``edges`` (source, target); an edge against that order is drawn but does not shape the layers."""
    known = set(ids)
    edges = [(u, v) for u, v in edges if u in known and v in known]
    layer = _layers(ids, edges)
    # chains: each edge as the sequence of (virtual or real) node keys it passes through, layer by layer
    chains: list[list[str]] = []
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for n in ids:
        rows[layer[n]].append(n)
    for i, (u, v) in enumerate(edges):
        chain = [u]
        for k in range(layer[u] + 1, layer[v]):
            key = f"\0{i}:{k}"
            rows[k].append(key)
            layer[key] = k
            chain.append(key)
        chains.append([*chain, v])
    down: dict[str, list[str]] = {}
    up: dict[str, list[str]] = {}
    for chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            if layer[b] == layer[a] + 1:
                down.setdefault(a, []).append(b)
                up.setdefault(b, []).append(a)
    rows = _order(rows, up, down)
    width_of = {k: (sizes[k][0] if k in known else _LANE) for r in rows for k in r}
    centre = _place_x(rows, width_of, up, down, gap_x)
    row_top, row_height, y = [], [], top + margin
    for r in rows:
        h = max((sizes[k][1] for k in r if k in known), default=0.0)
        row_top.append(y)
        row_height.append(h)
        y += h + gap_y
    left = min((centre[k] - width_of[k] / 2 for k in centre), default=0.0)
    shift = margin - left
    boxes = {n: Box(n, centre[n] - sizes[n][0] / 2 + shift, row_top[layer[n]], *sizes[n]) for n in ids}
    routes = _routes(chains, boxes, {k: c + shift for k, c in centre.items()}, layer, row_top, row_height)
    width = max((b.x + b.width for b in boxes.values()), default=0.0) + margin
    height = max((b.y + b.height for b in boxes.values()), default=top) + margin
    return Layout(width, height, tuple(boxes[n] for n in ids), routes)


def _layers(ids: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    preds: dict[str, list[str]] = {}
    for u, v in edges:
        preds.setdefault(v, []).append(u)
    layer: dict[str, int] = {}
    for n in ids:
        layer[n] = 1 + max((layer[p] for p in preds.get(n, ()) if p in layer), default=-1)
    return layer


def _order(rows: list[list[str]], up: Mapping[str, list[str]], down: Mapping[str, list[str]]) -> list[list[str]]:
    best, best_cross = [list(r) for r in rows], _crossings(rows, down)
    current = [list(r) for r in rows]
    for sweep in range(_SWEEPS):
        forward = sweep % 2 == 0
        indices = range(1, len(current)) if forward else range(len(current) - 2, -1, -1)
        for i in indices:
            fixed = current[i - 1] if forward else current[i + 1]
            pos = {k: j for j, k in enumerate(fixed)}
            near = up if forward else down

            def key(item: tuple[int, str], pos: dict[str, int] = pos, near: Mapping[str, list[str]] = near) -> float:
                j, k = item
                ns = [pos[n] for n in near.get(k, ()) if n in pos]
                return sum(ns) / len(ns) if ns else float(j)

            current[i] = [k for _, k in sorted(enumerate(current[i]), key=key)]
        cross = _crossings(current, down)
        if cross < best_cross:
            best, best_cross = [list(r) for r in current], cross
    return best


def _crossings(rows: Sequence[Sequence[str]], down: Mapping[str, list[str]]) -> int:
    total = 0
    for upper, lower in zip(rows, rows[1:], strict=False):
        pos = {k: j for j, k in enumerate(lower)}
        segs = [(i, pos[b]) for i, a in enumerate(upper) for b in down.get(a, ()) if b in pos]
        total += sum(1 for x, (a1, b1) in enumerate(segs) for a2, b2 in segs[x + 1:]
                     if (a1 - a2) * (b1 - b2) < 0)
    return total


def _place_x(rows: Sequence[Sequence[str]], width: Mapping[str, float], up: Mapping[str, list[str]],
             down: Mapping[str, list[str]], gap: float) -> dict[str, float]:
    centre: dict[str, float] = {}
    for r in rows:  # packed left to right first
        x = 0.0
        for k in r:
            centre[k] = x + width[k] / 2
            x += width[k] + gap
    for sweep in range(4):
        forward = sweep % 2 == 0
        near = up if forward else down
        for r in (rows[1:] if forward else list(reversed(rows[:-1]))):
            wanted = [_mean([centre[n] for n in near.get(k, ())], centre[k]) for k in r]
            _pack(r, wanted, width, gap, centre)
    return centre


def _pack(row: Sequence[str], wanted: Sequence[float], width: Mapping[str, float], gap: float,
          centre: dict[str, float]) -> None:
    """Each node as near its wanted centre as the order allows, no two closer than ``gap``."""
    placed: list[float] = []
    for i, k in enumerate(row):
        x = wanted[i]
        if i:
            x = max(x, placed[-1] + (width[row[i - 1]] + width[k]) / 2 + gap)
        placed.append(x)
    drift = _mean([w - p for w, p in zip(wanted, placed, strict=True)], 0.0)
    for k, x in zip(row, placed, strict=True):
        centre[k] = x + drift


def _mean(values: Sequence[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _routes(chains: Sequence[Sequence[str]], boxes: Mapping[str, Box], centre: Mapping[str, float],
            layer: Mapping[str, int], row_top: Sequence[float], row_height: Sequence[float]) -> tuple[Route, ...]:
    def first_x(chain: Sequence[str]) -> float:  # where the edge heads after leaving its source
        return centre[chain[1]]

    def last_x(chain: Sequence[str]) -> float:  # where the edge comes from before entering its target
        return centre[chain[-2]]

    out_port = _ports(chains, boxes, 0, first_x)
    in_port = _ports(chains, boxes, -1, last_x)
    routes = []
    for i, chain in enumerate(chains):
        src, dst = boxes[chain[0]], boxes[chain[-1]]
        pts: list[Point] = [(out_port[i], src.y + src.height)]
        for k in chain[1:-1]:
            top = row_top[layer[k]]
            pts += [(centre[k], top), (centre[k], top + row_height[layer[k]])]
        pts.append((in_port[i], dst.y))
        routes.append(Route(chain[0], chain[-1], tuple(pts)))
    return tuple(routes)


def _ports(chains: Sequence[Sequence[str]], boxes: Mapping[str, Box], end: int,
           toward: Callable[[Sequence[str]], float]) -> dict[int, float]:
    """Spread the edges leaving (``end=0``) or entering (``end=-1``) each box along its side, in the
    order of where they go, so they neither overlap nor cross at the box."""
    by_node: dict[str, list[int]] = {}
    for i, chain in enumerate(chains):
        by_node.setdefault(chain[end], []).append(i)
    ports: dict[int, float] = {}
    for node, idx in by_node.items():
        b = boxes[node]
        idx.sort(key=lambda i: toward(chains[i]))
        for j, i in enumerate(idx):
            ports[i] = b.x + b.width * (j + 1) / (len(idx) + 1)
    return ports
