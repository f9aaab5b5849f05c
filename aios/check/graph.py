"""The `needs` graph of a playbook: unknown ids, cycles, topological order, upstream closure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aios.diagnostics import Related
from aios.span import Span

__all__ = ["find_cycle", "topological_order", "upstream_closure"]


def find_cycle(edges: Mapping[str, Sequence[str]], order: Sequence[str]) -> list[str] | None:
    """A cycle as a path ``[a, b, c, a]`` (edges point from a step to what it needs), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in order:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def topological_order(edges: Mapping[str, Sequence[str]], order: Sequence[str]) -> list[str]:
    """Kahn's algorithm; among ready steps, source order wins, so the result is stable."""
    position = {n: i for i, n in enumerate(order)}
    remaining = {n: {d for d in edges.get(n, ()) if d in position} for n in order}
    out: list[str] = []
    while remaining:
        ready = sorted((n for n, deps in remaining.items() if not deps), key=position.__getitem__)
        if not ready:  # a cycle (already reported): keep source order for the rest
            out.extend(sorted(remaining, key=position.__getitem__))
            break
        node = ready[0]
        out.append(node)
        del remaining[node]
        for deps in remaining.values():
            deps.discard(node)
    return out


def upstream_closure(edges: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    memo: dict[str, frozenset[str]] = {}

    def up(node: str, guard: frozenset[str]) -> frozenset[str]:
        if node in memo:
            return memo[node]
        acc: set[str] = set()
        for dep in edges.get(node, ()):
            if dep in guard:
                continue
            acc.add(dep)
            acc |= up(dep, guard | {dep})
        memo[node] = frozenset(acc)
        return memo[node]

    return {n: up(n, frozenset({n})) for n in edges}


def cycle_related(path: list[str], need_spans: Mapping[tuple[str, str], Span]) -> list[Related]:
    rel = []
    for a, b in zip(path, path[1:], strict=False):
        span = need_spans.get((a, b))
        if span is not None:
            rel.append(Related(span, f"`{a}` needs `{b}`"))
    return rel
