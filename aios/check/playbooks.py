"""Check playbooks and build their plan steps.

Per playbook: the trigger, step kinds, the `needs` graph (unknown ids, cycles), branch targets,
references (agents, connectors, schemas), idempotency keys, record writes, and every template.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError

from aios.articles import a_or_an
from aios.check.context import CheckContext
from aios.check.documents import retry_policy
from aios.check.graph import cycle_related, find_cycle, topological_order, upstream_closure
from aios.check.idempotency import check_key, stable_key_hint
from aios.check.records import value_fits
from aios.check.schedules import check_cron, check_timezone
from aios.check.shapes import ANY_SHAPE, FieldShape, ListShape, ObjShape, RecordShape, Shape
from aios.check.templates import Scope, TemplateChecker, has_template, parse_expression_source, sandbox
from aios.diagnostics import Diagnostic, DiagnosticSink
from aios.load.nodes import Path, SpanIndex
from aios.plan.plan import (
    WEBHOOK_SECRET_PREFIX,
    Agent,
    BranchConfig,
    Connector,
    GateConfig,
    Lit,
    MapConfig,
    Outcome,
    Playbook,
    RecordWrite,
    RetrieveConfig,
    SideEffect,
    Step,
    StepKind,
    Template,
    TList,
    TMap,
    Trigger,
    TValue,
)
from aios.plan.types import FieldType, RecordType, TypeKind
from aios.spec.build import SpecDocument
from aios.spec.playbook import MapBodySpec, PlaybookDoc, StepDoc, WriteSpec

__all__ = ["PlaybookContext", "CheckedPlaybooks", "build_playbooks", "parse_duration", "event_shape"]

_DURATION = re.compile(r"^([0-9]+)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_STR = FieldType(TypeKind.STR)


def parse_duration(text: str | None) -> float | None:
    if text is None:
        return None
    m = _DURATION.match(text)
    return float(int(m.group(1)) * _UNITS[m.group(2)]) if m else None


@dataclass
class PlaybookContext:
    schemas: dict[str, RecordType]
    agents: dict[str, Agent]
    connectors: dict[str, Connector]
    broken_connectors: set[str]
    secrets: frozenset[str] = frozenset()


def event_shape(payload: RecordType | None) -> ObjShape:
    return ObjShape("the event", {
        "type": FieldShape(_STR), "id": FieldShape(_STR), "source": FieldShape(_STR),
        "time": FieldShape(FieldType(TypeKind.DATETIME)),
        "payload": RecordShape(payload) if payload else ANY_SHAPE,
    })


class _PlaybookChecker:
    def __init__(self, ctx: CheckContext, pctx: PlaybookContext, doc: SpecDocument) -> None:
        self.ctx = ctx
        self.pctx = pctx
        self.doc = doc
        model = doc.model
        assert isinstance(model, PlaybookDoc)
        self.pb = model
        self.spans: SpanIndex = doc.spans
        self.templates = TemplateChecker(ctx)

    # -- helpers ---------------------------------------------------------------------------------

    def span(self, path: Path) -> Any:
        return self.spans.value(path)

    def tree(self, value: Any, path: Path) -> TValue:
        """Turn YAML input into a template tree; strings with `{{` become Templates with spans."""
        if isinstance(value, dict):
            return TMap(tuple((str(k), self.tree(v, (*path, str(k)))) for k, v in value.items()))
        if isinstance(value, list):
            return TList(tuple(self.tree(v, (*path, i)) for i, v in enumerate(value)))
        if isinstance(value, str) and has_template(value):
            return Template(value, self.span(path))
        return Lit(value)

    def template(self, text: str, path: Path, expression: bool = False) -> Template:
        return Template(text, self.span(path), expression)

    # -- the checks ------------------------------------------------------------------------------

    def trigger(self) -> Trigger:
        t = self.pb.trigger
        sources = [k for k in ("event", "schedule", "webhook", "file_drop") if getattr(t, k) is not None]
        if len(sources) != 1:
            self.ctx.sink.report("invalid-trigger",
                                 "a trigger needs exactly one of `event`, `schedule`, `webhook`, `file_drop`"
                                 + (f" (found {', '.join(sources)})" if sources else ""),
                                 self.spans.key(("trigger",)))
        if t.schedule is not None:
            check_cron(self.ctx.sink, t.schedule, self.span(("trigger", "schedule")))
        if t.timezone is not None:
            if t.schedule is None:
                self.ctx.sink.report("invalid-trigger", "`timezone` applies to `schedule` triggers only",
                                     self.spans.key(("trigger", "timezone")))
            else:
                check_timezone(self.ctx.sink, "invalid-trigger", t.timezone, self.span(("trigger", "timezone")))
        if t.webhook is not None and WEBHOOK_SECRET_PREFIX + t.webhook not in self.pctx.secrets:
            self.ctx.sink.report(
                "webhook-secret-missing",
                f"webhook source `{t.webhook}` has no signing secret, so its deliveries will be refused (503)",
                self.span(("trigger", "webhook")),
                hint=f"declare `{WEBHOOK_SECRET_PREFIX}{t.webhook}: {{env: SOME_ENV_VAR}}` under `secrets:` in aios.yaml")
        if t.payload is not None and t.payload not in self.pctx.schemas:
            self.ctx.unknown("unknown-schema", "schema", t.payload, self.pctx.schemas,
                             self.span(("trigger", "payload")), kind="schema")
        return Trigger(t.event, t.schedule, t.missed, t.webhook, t.file_drop, t.payload, t.timezone)

    def run(self) -> Playbook | None:
        trigger = self.trigger()
        steps = self.pb.steps
        ids: dict[str, int] = {}
        for i, s in enumerate(steps):
            if s.id in ids:
                first = ids[s.id]
                from aios.diagnostics import Related

                self.ctx.sink.report("duplicate-step", f"step id `{s.id}` is used twice", self.span(("steps", i, "id")),
                                     related=[Related(self.span(("steps", first, "id")), "first used here")])
            else:
                ids[s.id] = i
            kinds = s.kinds()
            if len(kinds) != 1:
                msg = (f"step `{s.id}` has no kind" if not kinds else
                       f"step `{s.id}` has more than one kind: {', '.join(f'`{k}`' for k in kinds)}")
                self.ctx.sink.report("step-kind", msg, self.spans.key(("steps", i, "id")) if not kinds else
                                     self.spans.key(("steps", i, kinds[1])),
                                     hint="give each step exactly one of: agent, retrieve, transform, gate, "
                                          "connector, branch, map")
        edges: dict[str, list[str]] = {s.id: [] for s in steps}
        need_spans: dict[tuple[str, str], Any] = {}
        self.unresolved: set[str] = set()
        for i, s in enumerate(steps):
            if ids.get(s.id) != i:
                continue
            for j, dep in enumerate(s.needs):
                sp = self.span(("steps", i, "needs", j))
                if dep not in ids:
                    self.ctx.unknown("unknown-step", "step", dep, ids, sp)
                    self.unresolved.add(s.id)
                    continue
                edges[s.id].append(dep)
                need_spans[(s.id, dep)] = sp
        # branch targets implicitly need their branch
        arms: dict[str, tuple[str, str]] = {}
        for i, s in enumerate(steps):
            if s.branch is None or ids.get(s.id) != i:
                continue
            seen_arm: dict[str, str] = {}
            for arm, key in ((s.branch.then, "then"), (s.branch.otherwise, "else")):
                for j, target in enumerate(arm):
                    sp = self.span(("steps", i, "branch", key, j))
                    if target not in ids:
                        self.ctx.unknown("unknown-step", "step", target, ids, sp)
                        continue
                    if target == s.id:
                        self.ctx.sink.report("branch-target", f"branch `{s.id}` routes to itself", sp)
                        continue
                    if target in seen_arm:
                        self.ctx.sink.report("branch-target",
                                             f"step `{target}` is in both arms of branch `{s.id}`", sp,
                                             hint="a step belongs to `then` or to `else`; to run it either way, "
                                                  "make it need the branch instead")
                        continue
                    seen_arm[target] = key
                    arms[target] = (s.id, key)
                    if s.id not in edges[target]:
                        edges[target].append(s.id)
                        need_spans[(target, s.id)] = sp
        cycle = find_cycle(edges, list(edges))
        if cycle is not None:
            first_span = need_spans.get((cycle[0], cycle[1]), self.span(("steps",)))
            self.ctx.sink.report("needs-cycle", "`needs` forms a cycle: " + " → ".join(cycle), first_span,
                                 related=cycle_related(cycle, need_spans),
                                 hint="a step cannot (transitively) need itself")
        upstream = upstream_closure(edges)
        if cycle is not None:  # what is upstream of a step on (or after) the cycle is not known: do not
            on_cycle = set(cycle)  # report step-order and record-order errors that follow from it
            self.unresolved |= {sid for sid in edges if sid in on_cycle or upstream.get(sid, frozenset()) & on_cycle}
        order = topological_order(edges, list(edges))
        self.unreachable(steps, ids, edges, order)
        written = self.writes_by_step(steps, ids)
        built: dict[str, Step] = {}
        shapes = {s.id: self.output_shape(s) for s in steps}
        names = self.scope_names(shapes)
        for sid in order:
            i = ids[sid]
            s = steps[i]
            written_up = frozenset(written[d] for d in upstream.get(sid, ()) if d in written)
            scope = self.scope(names, sid, upstream.get(sid, frozenset()), written_up)
            step = self.step(s, i, tuple(edges[sid]), scope)
            if step is not None:
                built[sid] = step
        if self.ctx.sink.has_errors:
            pass  # still return what we built; the compiler decides whether a plan comes out
        return Playbook(
            name=self.pb.name, trigger=trigger, steps=tuple(built[s] for s in order if s in built),
            outcomes=tuple(Outcome(o.name, o.goal, o.unit, o.description) for o in self.pb.outcomes),
            budget_usd=self.pb.budget_usd, description=self.pb.description, span=self.span(("name",)),
        )

    def writes_by_step(self, steps: list[StepDoc], ids: dict[str, int]) -> dict[str, str]:
        out = {}
        for s in steps:
            if s.writes is not None:
                out[s.id] = s.writes if isinstance(s.writes, str) else s.writes.record
        return out

    def unreachable(self, steps: list[StepDoc], ids: dict[str, int], edges: dict[str, list[str]],
                    order: list[str]) -> None:
        """A branch with a constant condition makes one arm unreachable, and what only follows it."""
        dead: set[str] = set()
        for s in steps:
            if s.branch is None:
                continue
            const = _constant(s.branch.when)
            if const is None:
                continue
            arm = s.branch.otherwise if const else s.branch.then
            dead.update(t for t in arm if t in ids)
        if not dead:
            return
        for sid in order:
            deps = edges.get(sid, [])
            if sid not in dead and deps and all(d in dead for d in deps):
                dead.add(sid)
        for sid in sorted(dead, key=lambda x: ids[x]):
            self.ctx.sink.report("unreachable-step", f"step `{sid}` can never run",
                                 self.span(("steps", ids[sid], "id")),
                                 hint="it sits under a branch whose condition is a constant")

    def scope_names(self, shapes: dict[str, Shape]) -> dict[str, Shape]:
        payload = self.pctx.schemas.get(self.pb.trigger.payload) if self.pb.trigger.payload else None
        step_members: dict[str, Shape] = {
            s.id: ObjShape(f"step `{s.id}`", {"output": shapes.get(s.id, ANY_SHAPE), "status": FieldShape(_STR),
                                              # a map step: what happened to each item (docs/runtime.md)
                                              **({"results": ANY_SHAPE} if s.map is not None else {})})
            for s in self.pb.steps
        }
        record_members: dict[str, Shape] = {n: RecordShape(r) for n, r in self.pctx.schemas.items()}
        names: dict[str, Shape] = {
            "event": event_shape(payload),
            "steps": ObjShape("steps", step_members, meta="step"),
            "records": ObjShape("records", record_members, meta="schema"),
            "run": ObjShape("the run", {"id": FieldShape(_STR), "playbook": FieldShape(_STR),
                                        "started_at": FieldShape(FieldType(TypeKind.DATETIME)),
                                        "plan_hash": FieldShape(_STR)}),
        }
        return names

    def scope(self, names: dict[str, Shape], sid: str, upstream: frozenset[str],
              written: frozenset[str]) -> Scope:
        if sid in self.unresolved:  # a `needs` entry is already reported; do not cascade
            return Scope(names, None, sid, None, self.pctx.schemas)
        return Scope(names, upstream, sid, written, self.pctx.schemas)

    def output_shape(self, s: StepDoc) -> Shape:
        schema = self.output_schema(s)
        if schema is not None and schema in self.pctx.schemas:
            return RecordShape(self.pctx.schemas[schema])
        if s.connector is not None and s.connector in self.pctx.connectors:
            return RecordShape(self.pctx.connectors[s.connector].output)
        if s.retrieve is not None:
            hit = ObjShape("a hit", {k: ANY_SHAPE for k in ("id", "kind", "title", "snippet", "score", "provenance",
                                                                "fields", "tags")})
            return ObjShape("a retrieval result", {"hits": ListShape(hit), "query": FieldShape(_STR)})
        if s.gate is not None:
            return ObjShape("a gate decision", {"approved": FieldShape(FieldType(TypeKind.BOOL)),
                                                "by": FieldShape(_STR), "note": FieldShape(_STR),
                                                "at": FieldShape(FieldType(TypeKind.DATETIME))})
        if s.branch is not None:
            return ObjShape("a branch result", {"taken": FieldShape(_STR),
                                                "value": FieldShape(FieldType(TypeKind.BOOL))})
        if s.transform is not None and isinstance(s.transform, dict):
            return ObjShape("the transform output", {str(k): ANY_SHAPE for k in s.transform})
        if s.map is not None:
            return ListShape(self.body_shape(s.map.do))
        return ANY_SHAPE

    def body_shape(self, body: MapBodySpec) -> Shape:
        schema = body.output or (self.pctx.agents[body.agent].output_schema
                                 if body.agent in self.pctx.agents else None)
        if schema in self.pctx.schemas:
            return RecordShape(self.pctx.schemas[schema])
        if body.connector in self.pctx.connectors:
            return RecordShape(self.pctx.connectors[body.connector].output)
        return ANY_SHAPE

    def output_schema(self, s: StepDoc) -> str | None:
        if s.output is not None:
            return s.output
        if s.agent is not None and s.agent in self.pctx.agents:
            return self.pctx.agents[s.agent].output_schema
        return None

    def check_tree(self, value: Any, path: Path, scope: Scope) -> TValue:
        tree = self.tree(value, path)
        self._check_tree(tree, scope)
        return tree

    def _check_tree(self, tree: TValue, scope: Scope) -> None:
        if isinstance(tree, Template):
            self.templates.check(tree, scope)
        elif isinstance(tree, TMap):
            for _, v in tree.items:
                self._check_tree(v, scope)
        elif isinstance(tree, TList):
            for v in tree.items:
                self._check_tree(v, scope)

    def check_connector_input(self, conn: Connector, value: Any, path: Path, label: str) -> None:
        if not isinstance(value, dict):
            if value is None and any(f.required and f.default is None for f in conn.input.fields):
                self.ctx.sink.report("connector-input", f"`{label}` calls `{conn.name}` without `input`",
                                     self.spans.key(path[:-1] + ("connector",)),
                                     hint="required: " + ", ".join(f"`{f.name}`" for f in conn.input.fields
                                                                   if f.required and f.default is None))
            return
        from aios.spec.build import did_you_mean

        for key, v in value.items():
            f = conn.input.field(str(key))
            if f is None:
                self.ctx.sink.report("connector-input", f"`{conn.name}` takes no input `{key}`",
                                     self.spans.key((*path, str(key))),
                                     hint=did_you_mean(str(key), conn.input.field_names()) or
                                     "inputs: " + ", ".join(f"`{n}`" for n in conn.input.field_names()))
            elif not (isinstance(v, str) and has_template(v)) and not isinstance(v, (dict, list)) \
                    and not value_fits(f.type, v):
                self.ctx.sink.report("connector-input",
                                     f"input `{key}` of `{conn.name}` must be {f.type.show()}, got {v!r}",
                                     self.span((*path, str(key))))
        missing = [f.name for f in conn.input.fields if f.required and f.default is None and f.name not in value]
        if missing:
            self.ctx.sink.report("connector-input",
                                 f"`{conn.name}` needs input " + ", ".join(f"`{m}`" for m in missing),
                                 self.spans.key(path))

    def check_write(self, s: StepDoc, i: int, scope: Scope) -> RecordWrite | None:
        w = s.writes
        if w is None:
            return None
        schema = w if isinstance(w, str) else w.record
        wpath: Path = ("steps", i, "writes") if isinstance(w, str) else ("steps", i, "writes", "schema")
        rec = self.pctx.schemas.get(schema)
        if rec is None:
            self.ctx.unknown("unknown-schema", "schema", schema, self.pctx.schemas, self.span(wpath), kind="schema")
            return RecordWrite(schema)
        fields_tree = None
        id_tpl = None
        if isinstance(w, WriteSpec) and w.fields is not None:
            for key in w.fields:
                if rec.field(str(key)) is None:
                    self.ctx.sink.report("record-write-mismatch", f"`{schema}` has no field `{key}`",
                                         self.spans.key(("steps", i, "writes", "fields", str(key))))
            missing = [f.name for f in rec.fields if f.required and f.default is None and f.name not in w.fields]
            if missing:
                self.ctx.sink.report("record-write-mismatch",
                                     f"the `{schema}` written here lacks required field(s) "
                                     + ", ".join(f"`{m}`" for m in missing),
                                     self.spans.key(("steps", i, "writes", "fields")))
            fields_tree = self.check_tree(w.fields, ("steps", i, "writes", "fields"), scope)
        else:
            produced = self.output_schema(s)
            if s.connector is not None:
                conn = self.pctx.connectors.get(s.connector)
                produced = conn.output.name if conn else None
            if s.transform is not None and isinstance(s.transform, dict) and produced is None:
                keys = {str(k) for k in s.transform}
                extra = sorted(keys - set(rec.field_names()))
                missing = [f.name for f in rec.fields if f.required and f.default is None and f.name not in keys]
                if extra or missing:
                    detail = (f"unknown field(s) {', '.join(extra)}" if extra else "") + (
                        "; " if extra and missing else "") + (
                        f"missing required field(s) {', '.join(missing)}" if missing else "")
                    self.ctx.sink.report("record-write-mismatch",
                                         f"step `{s.id}` writes {a_or_an(f'`{schema}`')} but its transform output does not "
                                         f"match: {detail}", self.span(wpath))
            elif s.agent is not None and s.agent not in self.pctx.agents:
                pass  # the unknown agent is reported; its output is unknown
            elif s.connector is not None and s.connector not in self.pctx.connectors:
                pass
            elif produced != schema and not (s.transform is not None and produced is None):
                what = a_or_an(f"`{produced}`") if produced else "output with no declared schema"
                self.ctx.sink.report("record-write-mismatch",
                                     f"step `{s.id}` writes {a_or_an(f'`{schema}`')} record but produces {what}",
                                     self.span(wpath),
                                     hint=f"set `output: {schema}` on the step or agent, or map fields with "
                                          "`writes: {schema: …, fields: {…}}`")
        if isinstance(w, WriteSpec) and w.id is not None:
            id_tpl = self.tree(w.id, ("steps", i, "writes", "id"))
            self._check_tree(id_tpl, scope)
        return RecordWrite(schema, id_tpl if isinstance(id_tpl, Template) else None, fields_tree)

    def step(self, s: StepDoc, i: int, needs: tuple[str, ...], scope: Scope) -> Step | None:
        kinds = s.kinds()
        if len(kinds) != 1:
            return None
        kind = StepKind(kinds[0])
        base: Path = ("steps", i)
        agent = connector = None
        retrieve = gate = branch = mapcfg = None
        transform: TValue | None = None
        inp = self.check_tree(s.input, (*base, "input"), scope) if s.input is not None else None
        if s.output is not None and s.output not in self.pctx.schemas:
            self.ctx.unknown("unknown-schema", "schema", s.output, self.pctx.schemas, self.span((*base, "output")),
                             kind="schema")
        if kind is StepKind.AGENT:
            assert s.agent is not None
            agent = s.agent
            if agent not in self.pctx.agents:
                self.ctx.unknown("unknown-agent", "agent", agent, self.pctx.agents, self.span((*base, "agent")),
                                 kind="agent")
        elif kind is StepKind.CONNECTOR:
            assert s.connector is not None
            connector = s.connector
            conn = self.pctx.connectors.get(connector)
            if conn is None:
                self.ctx.unknown("unknown-connector", "connector", connector, self.pctx.connectors,
                                 self.span((*base, "connector")), kind="connector")
            else:
                self.check_connector_input(conn, s.input, (*base, "input"), s.id)
                if conn.side_effect is not SideEffect.NONE and s.idempotency_key is None:
                    self.ctx.sink.report(
                        "missing-idempotency-key",
                        f"step `{s.id}` calls `{connector}`, which has {a_or_an(conn.side_effect.value)} side effect, "
                        "without an `idempotency_key`", self.spans.key((*base, "connector")),
                        hint="add an `idempotency_key`; " + stable_key_hint(s.id, scope.written_upstream or ()))
        elif kind is StepKind.RETRIEVE:
            assert s.retrieve is not None
            q = self.template(s.retrieve.query, (*base, "retrieve", "query"))
            self.templates.check(q, scope)
            filt = self.check_tree(s.retrieve.filter, (*base, "retrieve", "filter"), scope)
            retrieve = RetrieveConfig(q, s.retrieve.top_k, filt, s.retrieve.half_life_days)
        elif kind is StepKind.TRANSFORM:
            transform = self.check_tree(s.transform, (*base, "transform"), scope)
        elif kind is StepKind.GATE:
            assert s.gate is not None
            msg = self.template(s.gate.message, (*base, "gate", "message"))
            self.templates.check(msg, scope)
            gate = GateConfig(msg, tuple(s.gate.approvers), parse_duration(s.gate.timeout), s.gate.on_timeout)
        elif kind is StepKind.BRANCH:
            assert s.branch is not None
            cond = self.template(s.branch.when, (*base, "branch", "when"), expression=True)
            self.templates.check(cond, scope)
            branch = BranchConfig(cond, tuple(s.branch.then), tuple(s.branch.otherwise))
        elif kind is StepKind.MAP:
            assert s.map is not None
            mapcfg = self.map_step(s, i, scope)
        idem = None
        if s.idempotency_key is not None:
            idem_tree = self.tree(s.idempotency_key, (*base, "idempotency_key"))
            self._check_tree(idem_tree, scope)
            idem = idem_tree if isinstance(idem_tree, Template) else Template(s.idempotency_key,
                                                                                self.span((*base, "idempotency_key")))
            check_key(self.ctx, idem, s.id, scope.written_upstream)
        compensate = None
        # the retries a step runs with: its own `on_failure.retry` (max 0: one attempt), else the called
        # connector's contract (a map's body connector too), else none; the runtime reads only these
        called = connector if connector is not None else mapcfg.connector if mapcfg is not None else None
        contract = self.pctx.connectors.get(called) if called is not None else None
        retry = contract.retry if contract is not None and contract.retry is not None else retry_policy(None)
        alert = True
        if s.on_failure is not None:
            if s.on_failure.retry is not None:
                retry = retry_policy(s.on_failure.retry)
            alert = s.on_failure.alert
            compensate = s.on_failure.compensate
            if compensate is not None and compensate not in self.pctx.connectors:
                self.ctx.unknown("unknown-connector", "connector", compensate, self.pctx.connectors,
                                 self.span((*base, "on_failure", "compensate")), kind="connector")
        if compensate is None and connector is not None and connector in self.pctx.connectors:
            compensate = self.pctx.connectors[connector].compensation  # the contract's, unless the step names one
        writes = self.check_write(s, i, scope)
        return Step(
            id=s.id, kind=kind, needs=needs, description=s.description, agent=agent, connector=connector,
            input=inp, transform=transform, output_schema=self.output_schema(s), writes=writes,
            idempotency_key=idem, retry=retry, compensate=compensate, alert_on_failure=alert,
            timeout_s=parse_duration(s.timeout), retrieve=retrieve, gate=gate, branch=branch, map=mapcfg,
            span=self.span((*base, "id")),
        )

    def map_step(self, s: StepDoc, i: int, scope: Scope) -> MapConfig | None:
        m = s.map
        assert m is not None
        base: Path = ("steps", i, "map")
        over = self.template(m.over, (*base, "over"), expression=True)
        self.templates.check(over, scope)
        body = m.do
        kinds = [k for k in ("agent", "connector", "transform") if getattr(body, k) is not None]
        if len(kinds) != 1:
            self.ctx.sink.report("step-kind", "a map body needs exactly one of `agent`, `connector`, `transform`",
                                 self.spans.key((*base, "do")))
            return None
        item_shape = _item_shape(over, scope)
        inner = Scope({**scope.names, m.item: item_shape}, scope.upstream, scope.step_id, scope.written_upstream,
                      scope.records)
        inp = self.check_tree(body.input, (*base, "do", "input"), inner) if body.input is not None else None
        transform = self.check_tree(body.transform, (*base, "do", "transform"), inner) \
            if body.transform is not None else None
        if body.agent is not None and body.agent not in self.pctx.agents:
            self.ctx.unknown("unknown-agent", "agent", body.agent, self.pctx.agents,
                             self.span((*base, "do", "agent")), kind="agent")
        idem = None
        if body.connector is not None:
            conn = self.pctx.connectors.get(body.connector)
            if conn is None:
                self.ctx.unknown("unknown-connector", "connector", body.connector, self.pctx.connectors,
                                 self.span((*base, "do", "connector")), kind="connector")
            else:
                self.check_connector_input(conn, body.input, (*base, "do", "input"), s.id)
                if conn.side_effect is not SideEffect.NONE and body.idempotency_key is None:
                    self.ctx.sink.report("missing-idempotency-key",
                                         f"map `{s.id}` calls `{body.connector}` ({a_or_an(conn.side_effect.value)} "
                                         "side effect) without an `idempotency_key`",
                                         self.spans.key((*base, "do", "connector")),
                                         hint=f"include the item, e.g. `\"{s.id}-{{{{ {m.item}.id }}}}\"`")
        if body.idempotency_key is not None:
            idem = Template(body.idempotency_key, self.span((*base, "do", "idempotency_key")))
            self.templates.check(idem, inner)
            check_key(self.ctx, idem, s.id, scope.written_upstream, (m.item,))
        if body.output is not None and body.output not in self.pctx.schemas:
            self.ctx.unknown("unknown-schema", "schema", body.output, self.pctx.schemas,
                             self.span((*base, "do", "output")), kind="schema")
        return MapConfig(over, m.item, StepKind(kinds[0]), body.agent, body.connector, transform, inp,
                         body.output, idem, m.max_items)


def _item_shape(over: Template, scope: Scope) -> Shape:
    """The shape of one item of a `map.over` expression when it is a plain path we can resolve."""
    from aios.check.shapes import item_of, member

    expr = parse_expression_source(over.source)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", expr):
        return ANY_SHAPE
    parts = expr.split(".")
    shape: Shape | None = scope.names.get(parts[0])
    for p in parts[1:]:
        if shape is None:
            return ANY_SHAPE
        shape, _ = member(shape, p, scope.records)
    return item_of(shape) if shape is not None else ANY_SHAPE


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONST_WORDS = frozenset(("true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is"))


def _constant(expr: str) -> bool | None:
    """The truth value of a branch condition that is a literal (`true`, `1 > 2`), else None."""
    words = _WORD.findall(_QUOTED.sub("", expr))
    if any(w not in _CONST_WORDS for w in words):
        return None  # it reads a variable: not a constant (and no second parse needed)
    try:
        ast = sandbox().parse("{{ " + parse_expression_source(expr) + " }}")
    except TemplateSyntaxError:
        return None
    outputs = list(ast.find_all(nodes.Output))
    if len(outputs) != 1 or len(outputs[0].nodes) != 1:
        return None
    node = outputs[0].nodes[0]
    if any(True for _ in node.find_all(nodes.Name)) or isinstance(node, nodes.Name):
        if isinstance(node, nodes.Name) and node.name in ("true", "false", "True", "False"):
            return node.name.lower() == "true"
        return None
    try:
        return bool(node.as_const())
    except nodes.Impossible:
        return None


class CheckedPlaybooks:
    """Check results of playbook documents, kept across recompiles (`aios dev` reloads).

    A playbook's check reads its own document and what it is checked against: the workspace file, the
    prompts, the names that failed to build (``values``, compared by equality) and every other
    document (schemas, agents, connectors, flags: ``docs``, compared by identity, as the document cache
    hands back the very objects for unchanged files). ``use`` is told all of that each compile; while
    it is the same, a playbook whose document is the same object is not checked again: its plan and
    diagnostics are reused. Any other change clears everything.
    """

    def __init__(self) -> None:
        self._values: tuple[object, ...] | None = None
        self._docs: list[SpecDocument] = []
        self._results: dict[int, tuple[SpecDocument, Playbook | None, tuple[Diagnostic, ...]]] = {}

    def use(self, values: tuple[object, ...], docs: list[SpecDocument]) -> None:
        same = (values == self._values and len(docs) == len(self._docs)
                and all(a is b for a, b in zip(docs, self._docs, strict=True)))
        if not same:
            self._values, self._docs = values, docs
            self._results = {}

    def check(self, ctx: CheckContext, pctx: PlaybookContext, doc: SpecDocument) -> Playbook | None:
        known = self._results.get(id(doc))
        if known is None or known[0] is not doc:
            own = dataclasses.replace(ctx, sink=DiagnosticSink())
            known = self._results[id(doc)] = (doc, _PlaybookChecker(own, pctx, doc).run(), tuple(own.sink.items))
        ctx.sink.extend(known[2])
        return known[1]

    def keep_only(self, docs: list[SpecDocument]) -> None:
        alive = {id(d) for d in docs}
        self._results = {k: v for k, v in self._results.items() if k in alive}


def build_playbooks(ctx: CheckContext, docs: list[SpecDocument], pctx: PlaybookContext,
                    memo: CheckedPlaybooks | None = None) -> list[Playbook]:
    out = []
    for d in docs:
        pb = memo.check(ctx, pctx, d) if memo is not None else _PlaybookChecker(ctx, pctx, d).run()
        if pb is not None:
            out.append(pb)
    if memo is not None:
        memo.keep_only(docs)
    return out
