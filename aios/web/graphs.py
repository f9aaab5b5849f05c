"""A playbook's graph for the pages (`aios.plan.graph`, rendered by `aios.plan.graph_render.to_svg`,
the code `aios graph` uses): the SVG markup and the graph as data."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from aios.plan.graph import build_graph
from aios.plan.graph_render import to_svg
from aios.plan.plan import Plan

__all__ = ["playbook_graph"]


def playbook_graph(plan: Plan, playbook: str, *, highlight: Collection[str] = (),
                   statuses: Mapping[str, str] | None = None, id_prefix: str = "aios-graph") -> dict[str, Any] | None:
    """``{"svg", "highlight", "statuses", "steps"}`` for ``playbook`` of ``plan``; None when the plan
    no longer has it (a run pinned to an older plan)."""
    pb = plan.playbook_map.get(playbook)
    if pb is None:
        return None
    graph = build_graph(pb, plan.connector_map)
    known = set(graph.ids)
    lit = [s for s in highlight if s in known]
    marks = {k: v for k, v in (statuses or {}).items() if k in known}
    return {"svg": to_svg(graph, highlight=lit, statuses=marks, id_prefix=id_prefix),
            "highlight": lit, "statuses": marks, "steps": list(graph.ids)}
