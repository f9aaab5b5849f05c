"""`aios graph` and the graph library the dashboard shares: every step and edge in all three formats,
marks for branches, gates and side effects, highlight and statuses, escaping, and the SVG layout."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import cache

import pydot
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from aios.cli.main import cli
from aios.compiler import compile_workspace
from aios.plan import Plan
from aios.plan.graph import EdgeKind, PlaybookGraph, build_graph
from aios.plan.graph_layout import layered_layout
from aios.plan.graph_render import render, to_dot, to_mermaid, to_svg
from aios.plan.plan import (
    BranchConfig,
    Connector,
    GateConfig,
    MapConfig,
    Playbook,
    SideEffect,
    Step,
    StepKind,
    Template,
    Trigger,
)
from aios.plan.types import RecordType
from tests.compiler.workspace_copy import copy_example, edit
from tests.conftest import ROOT

SVG = "{http://www.w3.org/2000/svg}"
EXAMPLES = ("content-pipeline", "support-triage", "stock-replenishment")


@cache
def example_plan() -> Plan:
    result = compile_workspace(ROOT)
    assert result.plan is not None
    return result.plan


def example(name: str) -> PlaybookGraph:
    plan = example_plan()
    return build_graph(plan.playbook_map[name], plan.connector_map)


def hostile() -> PlaybookGraph:
    """Names and texts that break naive renderers: quotes, markup, ampersands, backslashes, newlines."""
    nasty = 'say "hi" <b>&amp;</b> \\n\nnext\x07 line'
    effect = RecordType("Any", ())
    connectors = {"x.fire": Connector("x.fire", effect, effect, SideEffect.IRREVERSIBLE),
                  "x.undo": Connector("x.undo", effect, effect, SideEffect.REVERSIBLE)}
    steps = (
        Step('a"<&>', StepKind.AGENT, agent="ag", description=nasty),
        Step("a-b", StepKind.BRANCH, needs=('a"<&>',),
             branch=BranchConfig(Template('x < 5 and y == "q" & z', expression=True), then=("a_b",), otherwise=("end",))),
        Step("a_b", StepKind.GATE, needs=("a-b",), gate=GateConfig(Template("ok?"), approvers=("o'brien",))),
        Step("end", StepKind.CONNECTOR, needs=("a-b",), connector="x.fire", description="</title><script>"),
        Step("many", StepKind.MAP, needs=("a_b", "end"),
             map=MapConfig(over=Template("steps.a.output.items"), item="it", kind=StepKind.CONNECTOR, connector="x.undo")),
    )
    pb = Playbook('p"<&\n>', Trigger(event="e.v"), steps, description=nasty)
    return build_graph(pb, connectors)


def all_graphs() -> Iterator[PlaybookGraph]:
    yield from (example(n) for n in EXAMPLES)
    yield hostile()


def dot_text(quoted: str) -> str:
    """A DOT quoted string as the text it stands for (`\\n` a line break, `&amp;` an ampersand)."""
    assert quoted.startswith('"') and quoted.endswith('"'), quoted
    text = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), quoted[1:-1], flags=re.S)
    return text.replace("&amp;", "&")


def parse_dot(text: str) -> pydot.Dot:
    with warnings.catch_warnings():  # pydot's parser still calls pyparsing's camelCase names
        warnings.simplefilter("ignore", DeprecationWarning)
        graphs = pydot.graph_from_dot_data(text)
    assert graphs is not None and len(graphs) == 1
    return graphs[0]


def svg_nodes(text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    nodes = [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]
    return {g.get("data-step", ""): g for g in nodes}


# --- the model ----------------------------------------------------------------------------------------


def test_examples_have_every_step_and_every_needs_edge() -> None:
    plan = example_plan()
    for name in EXAMPLES:
        pb, g = plan.playbook_map[name], example(name)
        assert g.ids == tuple(s.id for s in pb.steps)
        pairs = {(e.source, e.target) for e in g.edges}
        assert pairs == {(n, s.id) for s in pb.steps for n in s.needs}
        assert len(pairs) == len(g.edges)


def test_branch_edges_carry_then_and_the_condition() -> None:
    g = example("content-pipeline")
    (then,) = [e for e in g.edges if e.source == "big_budget"]
    assert (then.target, then.kind, then.label) == ("approval", EdgeKind.THEN, "then")
    assert then.condition == "steps.intake.output.budget_eur | float > 5000"
    h = hostile()
    assert {(e.target, e.label) for e in h.edges if e.source == "a-b"} == {("a_b", "then"), ("end", "else")}


def test_marks_gates_side_effects_writes_and_maps() -> None:
    g = example("content-pipeline")
    assert g.node("approval").approval and g.node("approval").kind is StepKind.GATE
    assert g.node("publish").side_effect is SideEffect.REVERSIBLE
    assert g.node("intake").writes == "Project" and "writes Project" in g.node("intake").lines
    assert example("support-triage").node("answer").side_effect is SideEffect.IRREVERSIBLE
    assert example("stock-replenishment").node("place_order").side_effect is SideEffect.IRREVERSIBLE
    many = hostile().node("many")
    assert many.map_over == "steps.a.output.items" and many.side_effect is SideEffect.REVERSIBLE
    assert g.trigger == "event lead.received"


# --- Mermaid ------------------------------------------------------------------------------------------

_MERMAID_NODE = re.compile(r'^  (s_\w+)(\[|\[\(|\[/|\{\{|\{|\[\[|\(\[)"([^"]*)"(\]|\)\]|/\]|\}\}|\}|\]\]|\]\))$')
_MERMAID_EDGE = re.compile(r"^  (s_\w+) (-->|-\.->)(\|(then|else)\|)? (s_\w+)$")


def mermaid_parts(text: str) -> tuple[dict[str, str], list[tuple[str, str, str | None]], list[str]]:
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str | None]] = []
    rest: list[str] = []
    for line in lines[1:]:
        if m := _MERMAID_NODE.match(line):
            assert m.group(1) not in nodes, f"duplicate id {m.group(1)}"
            nodes[m.group(1)] = m.group(3)
        elif m := _MERMAID_EDGE.match(line):
            edges.append((m.group(1), m.group(5), m.group(4)))
        else:
            assert re.match(r"^  (%% |classDef \w+ |class [\w,]+ \w+$|linkStyle [\d,]+ )", line), line
            rest.append(line)
    return nodes, edges, rest


@pytest.mark.parametrize("g", list(all_graphs()), ids=lambda g: g.name.split('"')[0])
def test_mermaid_has_unique_safe_ids_every_step_and_edge(g: PlaybookGraph) -> None:
    nodes, edges, _ = mermaid_parts(to_mermaid(g))
    assert len(nodes) == len(g.nodes)
    ids = {n.id: i for n, i in zip(g.nodes, nodes, strict=True)}
    assert all(re.fullmatch(r"s_[A-Za-z0-9_]+", i) for i in nodes)
    assert edges == [(ids[e.source], ids[e.target], e.label) for e in g.edges]
    for label in nodes.values():
        assert not re.search(r'["&]|<(?!br>)|(?<!<br)>', label), label


def test_mermaid_marks_side_effects_and_highlight() -> None:
    _, _, rest = mermaid_parts(to_mermaid(example("support-triage"), highlight={"reply", "urgent"},
                                          statuses={"reply": "completed"}))
    assert "  class s_answer irreversible" in rest
    assert "  class s_reply,s_urgent highlight" in rest
    assert "  class s_reply status_completed" in rest
    assert rest[-2:] == ["  class s_reply,s_urgent highlight", "  linkStyle 5 stroke:#2563eb,stroke-width:3px"]


# --- DOT ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("g", list(all_graphs()), ids=lambda g: g.name.split('"')[0])
def test_dot_parses_with_every_step_and_edge(g: PlaybookGraph) -> None:
    dot = parse_dot(to_dot(g, highlight={g.nodes[0].id}))
    assert dot_text(dot.get_name()) == g.name
    nodes = {dot_text(n.get_name()): n for n in dot.get_nodes() if n.get_name() not in ("graph", "node", "edge")}
    assert list(nodes) == list(g.ids)
    for n in g.nodes:
        assert dot_text(nodes[n.id].get("label")).split("\n") == [line for x in n.lines for line in x.splitlines()]
    edges = [(dot_text(e.get_source()), dot_text(e.get_destination()), e.get("label")) for e in dot.get_edges()]
    assert edges == [(e.source, e.target, f'"{e.label}"' if e.label else None) for e in g.edges]
    for n in g.nodes:
        attrs = nodes[n.id].get_attributes()
        assert ("highlight" in dot_text(attrs["class"]).split()) == (n.id == g.nodes[0].id)
        assert ("irreversible" in dot_text(attrs["class"]).split()) == (n.side_effect is SideEffect.IRREVERSIBLE)
        if n.description:
            assert dot_text(attrs["tooltip"]) == "\n".join(n.description.splitlines())


# --- SVG ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("g", list(all_graphs()), ids=lambda g: g.name.split('"')[0])
def test_svg_is_xml_with_one_box_per_step_and_no_overlaps(g: PlaybookGraph) -> None:
    text = to_svg(g)
    root = ET.fromstring(text)
    nodes = svg_nodes(text)
    assert list(nodes) == list(g.ids)
    assert len(list(root.iter(f"{SVG}rect"))) == len(g.nodes)
    boxes = []
    for step, el in nodes.items():
        (rect,) = el.findall(f"{SVG}rect")
        box = tuple(float(rect.get(k, "nan")) for k in ("x", "y", "width", "height"))
        boxes.append(box)
        texts = [t.text for t in el.findall(f"{SVG}text")]
        assert texts[0] == step
        x, y, w, h = box
        assert x >= 0 and x + w <= float(root.get("width", 0)) and y >= 0 and y + h <= float(root.get("height", 0))
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1:]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1, "boxes overlap"
    edges = [(e.get("data-source"), e.get("data-target")) for e in root.iter(f"{SVG}g")
             if "edge" in e.get("class", "").split()]
    assert edges == [(e.source, e.target) for e in g.edges]


def test_svg_marks_exactly_the_highlighted_steps_and_statuses() -> None:
    g = example("content-pipeline")
    text = to_svg(g, highlight={"intake", "research", "nope"}, statuses={"intake": "completed", "draft": "waiting"})
    nodes = svg_nodes(text)
    lit = {s for s, el in nodes.items() if "highlight" in el.get("class", "").split()}
    assert lit == {"intake", "research"}
    assert {s: el.get("data-status") for s, el in nodes.items() if el.get("data-status")} == {
        "intake": "completed", "draft": "waiting"}
    root = ET.fromstring(text)
    lit_edges = [(e.get("data-source"), e.get("data-target")) for e in root.iter(f"{SVG}g")
                 if {"edge", "highlight"} <= set(e.get("class", "").split())]
    assert lit_edges == [("intake", "research")]
    publish = nodes["publish"]
    assert "reversible" in publish.get("class", "").split()
    assert publish.find(f"{SVG}rect").get("stroke-dasharray")  # type: ignore[union-attr]


def test_svg_marks_irreversible_connectors_and_gates() -> None:
    nodes = svg_nodes(to_svg(example("support-triage")))
    assert "irreversible" in nodes["answer"].get("class", "").split()
    assert [t.text for t in nodes["answer"].findall(f"{SVG}text")][-1] == "irreversible"
    assert "approval" in nodes["escalate"].get("class", "").split()


def test_svg_escapes_hostile_text() -> None:
    g = hostile()
    text = to_svg(g, statuses={'a"<&>': '<x y="z">'}, id_prefix='p"><')
    nodes = svg_nodes(text)  # parses
    el = nodes['a"<&>']
    assert el.findtext(f"{SVG}title", "").endswith('say "hi" <b>&amp;</b> \\n\nnext  line')  # a control character XML cannot hold
    assert el.get("data-status") == '<x y="z">'
    assert "<script>" not in text and 'p"><' not in text
    assert nodes["end"].findtext(f"{SVG}title") == "end\n</title><script>"


def test_to_svg_id_prefix_keeps_marker_ids_apart() -> None:
    a, b = (ET.fromstring(to_svg(example("content-pipeline"), id_prefix=p)) for p in ("one", "two"))
    ids = [m.get("id") for root in (a, b) for m in root.iter(f"{SVG}marker")]
    assert len(ids) == len(set(ids)) == 4


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 14).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
    st.lists(st.tuples(st.integers(20, 300), st.integers(20, 90)), min_size=n, max_size=n))))
def test_layout_never_overlaps_boxes(case: tuple[int, list[tuple[int, int]], list[tuple[int, int]]]) -> None:
    n, pairs, dims = case
    ids = [f"n{i}" for i in range(n)]
    edges = sorted({(f"n{min(a, b)}", f"n{max(a, b)}") for a, b in pairs if a != b})
    layout = layered_layout(ids, edges, {i: (float(w), float(h)) for i, (w, h) in zip(ids, dims, strict=True)})
    boxes = layout.boxes
    assert [b.id for b in boxes] == ids
    assert all(b.x >= 0 and b.y >= 0 and b.x + b.width <= layout.width and b.y + b.height <= layout.height
               for b in boxes)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    for (u, v), r in zip(edges, layout.routes, strict=True):
        assert (r.source, r.target) == (u, v)
        src, dst = boxes[ids.index(u)], boxes[ids.index(v)]
        assert r.points[0][1] == src.y + src.height and r.points[-1][1] == dst.y
        assert all(src.y + src.height <= y <= dst.y for _, y in r.points)  # edges run downwards


def test_render_rejects_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown graph format"):
        render(example("content-pipeline"), "png")


# --- the command --------------------------------------------------------------------------------------


def test_cli_prints_each_format() -> None:
    runner = CliRunner()
    for fmt, check in (("mermaid", lambda t: t.startswith("flowchart TD\n")),
                       ("dot", lambda t: parse_dot(t) is not None),
                       ("svg", lambda t: ET.fromstring(t).tag == f"{SVG}svg")):
        res = runner.invoke(cli, ["graph", "content-pipeline", "--format", fmt, "-w", str(ROOT)])
        assert res.exit_code == 0, res.output
        assert check(res.output), fmt


def test_cli_accepts_a_playbook_file_and_highlight() -> None:
    res = CliRunner().invoke(cli, ["graph", str(ROOT / "playbooks" / "support-triage.yaml"),
                                   "--highlight", "reply, urgent", "--format", "svg"])
    assert res.exit_code == 0, res.output
    lit = {s for s, el in svg_nodes(res.output).items() if "highlight" in el.get("class", "").split()}
    assert lit == {"reply", "urgent"}


def test_cli_unknown_playbook_or_step_is_a_usage_error_with_did_you_mean() -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["graph", "contnt-pipeline", "-w", str(ROOT)])
    assert res.exit_code == 2 and "did you mean `content-pipeline`" in res.output
    res = runner.invoke(cli, ["graph", "content-pipeline", "-w", str(ROOT), "--highlight", "drat"])
    assert res.exit_code == 2 and "did you mean `draft`" in res.output
    res = runner.invoke(cli, ["graph", "content-pipeline", "-w", str(ROOT), "--format", "png"])
    assert res.exit_code == 2


def test_cli_workspace_with_errors_prints_diagnostics_and_exits_1(tmp_path: pytest.TempPathFactory) -> None:
    ws = copy_example(tmp_path / "ws")  # type: ignore[operator]
    edit(ws / "playbooks" / "content-pipeline.yaml", "needs: [research]", "needs: [reserch]")
    res = CliRunner().invoke(cli, ["graph", "content-pipeline", "-w", str(ws)])
    assert res.exit_code == 1
    assert "content-pipeline.yaml:" in res.output and "does not compile" in res.output


def test_the_example_in_playbooks_md_is_what_aios_graph_prints() -> None:
    text = (ROOT / "docs" / "playbooks.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{to_mermaid(example('content-pipeline'))}```" in text


def test_as_dict_is_json_with_every_node_and_edge() -> None:
    import json

    g = hostile()
    data = json.loads(json.dumps(g.as_dict()))
    assert [n["id"] for n in data["nodes"]] == list(g.ids)
    assert [(e["source"], e["target"], e["kind"]) for e in data["edges"]] == [
        (e.source, e.target, e.kind.value) for e in g.edges]
    assert data["nodes"][3]["side_effect"] == "irreversible" and data["nodes"][2]["approval"] is True
