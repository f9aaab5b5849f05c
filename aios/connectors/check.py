"""Compile-time checks of the connector plane, run by the workspace compiler:

* each workspace connector's ``module:`` imports, defines what it names, and its typed input and
  output match the contract (``connector-import``, ``connector-missing-function``,
  ``connector-contract-mismatch``);
* an irreversible connector that the policies may allow, with no rule (or default) that can ask a
  human first and no gate before the step, gets ``irreversible-without-approval``.

Importing a module runs the operator's code, like test collection does: every exception becomes a
diagnostic at the contract's ``module:`` value, and ``sys.modules`` keeps no workspace module.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aios.connectors.api import ConnectorImpl, as_impl
from aios.connectors.loader import ConnectorLoadError, parse_module_ref, probe
from aios.connectors.typematch import mismatches
from aios.diagnostics import DiagnosticSink
from aios.diagnostics.codes import Code, register
from aios.plan.plan import Plan, Playbook, SideEffect, Step, StepKind
from aios.spec.build import SpecDocument

__all__ = ["CONNECTOR_CODES", "check_connectors", "check_connector_modules", "check_approval_paths",
           "approval_paths"]

CONNECTOR_CODES = (
    Code("connector-import", "error", "connectors", "A workspace connector module fails to import."),
    Code("connector-missing-function", "error", "connectors",
         "A connector module does not define the callable its contract's `module:` names."),
    Code("connector-contract-mismatch", "error", "connectors",
         "A connector's Python input or output type does not match its contract."),
    Code("irreversible-without-approval", "warning", "connectors",
         "An irreversible connector may be allowed by policy with no way for a human to approve it first."),
)
register(*CONNECTOR_CODES)


def check_connectors(plan: Plan, docs: Iterable[SpecDocument], root: Path, sink: DiagnosticSink) -> None:
    """Every connector-plane check; the compiler calls this once the policies are compiled."""
    check_connector_modules(plan, docs, root, sink)
    check_approval_paths(plan, sink)


def check_connector_modules(plan: Plan, docs: Iterable[SpecDocument], root: Path, sink: DiagnosticSink) -> None:
    for d in docs:
        if d.kind != "connector":
            continue
        module = getattr(d.model, "module", None)
        contract = plan.connector_map.get(d.name)
        if not module or contract is None or contract.builtin:
            continue
        span = d.spans.value(("module",))
        ref = parse_module_ref(module, d.name)
        try:
            obj = probe(root, ref)
        except ConnectorLoadError as err:
            if err.kind == "missing-file":
                continue  # reported by the contract check (unknown-connector)
            if err.kind == "attribute":
                sink.report("connector-missing-function", f"connector `{d.name}`: {err}", span,
                            hint=f"define `{ref.attribute}` in {ref.file}, e.g. `@connector def {ref.attribute}"
                                 "(input, ctx): …` (see docs/connectors.md)")
            else:
                sink.report("connector-import", f"connector module `{ref.file}` fails to import: {err}", span,
                            hint="fix the error above; `python " + ref.file + "` shows the full traceback")
            continue
        except Exception as err:  # the loader itself must never turn into a traceback
            sink.report("connector-import", f"connector module `{ref.file}` cannot be loaded: "
                                            f"{type(err).__name__}: {err}", span)
            continue
        try:
            impl: Any = as_impl(obj)
        except TypeError as err:
            sink.report("connector-missing-function", f"connector `{d.name}`: `{ref.attribute}` in {ref.file} is "
                                                      f"not a connector ({err})", span,
                        hint="decorate a function `(input, ctx)` with `@connector`")
            continue
        if not isinstance(impl, ConnectorImpl):
            continue  # the raw protocol (a function of one ConnectorCall): nothing typed to compare
        for part, tp in (("input", impl.input_type), ("output", impl.output_type)):
            if tp is None:
                continue
            record = contract.input if part == "input" else contract.output
            for m in mismatches(record, tp, part):  # type: ignore[arg-type]
                where = d.spans.key((part, m.field)) if m.field and d.spans.has((part, m.field)) else span
                sink.report("connector-contract-mismatch", f"connector `{d.name}`: {m.message}", where,
                            hint=f"make {getattr(tp, '__name__', tp)} in {ref.file} and the contract's `{part}:` agree")


def _gated(pb: Playbook, step: Step) -> bool:
    """Is there a gate among the steps this one (transitively) needs?"""
    seen: set[str] = set()
    todo = list(step.needs)
    while todo:
        sid = todo.pop()
        if sid in seen:
            continue
        seen.add(sid)
        try:
            up = pb.step(sid)
        except KeyError:
            continue
        if up.kind is StepKind.GATE:
            return True
        todo.extend(up.needs)
    return False


def approval_paths(plan: Plan, connector: str, playbook: str | None = None) -> tuple[bool, bool] | None:
    """(may policy allow it, may policy ask a human first) for a connector action in ``playbook``, from
    the rules that can match it there and the default; None when the plan carries no compiled policies.

    A rule counts only if it can match this action as the interpreter builds it: a rule about record
    writes (`record.schema == …`), model calls, another connector or other playbooks does not."""
    compiled = plan.policies.compiled
    if compiled is None:
        return None
    from aios.policy import Effect

    effects = {r.effect for r in compiled.rules if r.applies_to("connector", connector)
               and r.reach.can_match("connector", connector, playbook)}
    default = compiled.default.effect if compiled.default is not None else None
    may_allow = Effect.ALLOW in effects or default is Effect.ALLOW
    may_ask = Effect.REQUIRE_APPROVAL in effects or default is Effect.REQUIRE_APPROVAL
    return may_allow, may_ask


def check_approval_paths(plan: Plan, sink: DiagnosticSink) -> None:
    verdicts: dict[tuple[str, str], tuple[bool, bool] | None] = {}
    for pb in plan.playbooks:
        for step in pb.steps:
            name = step.connector if step.kind is StepKind.CONNECTOR else (
                step.map.connector if step.map is not None and step.map.kind is StepKind.CONNECTOR else None)
            if not name:
                continue
            contract = plan.connector_map.get(name)
            if contract is None or contract.side_effect is not SideEffect.IRREVERSIBLE:
                continue
            if (name, pb.name) not in verdicts:
                verdicts[name, pb.name] = approval_paths(plan, name, pb.name)
            verdict = verdicts[name, pb.name]
            if verdict is None or not verdict[0] or verdict[1] or _gated(pb, step):
                continue
            sink.report("irreversible-without-approval",
                        f"step `{step.id}` calls `{name}`, which cannot be undone, and the policies may allow it "
                        "with no human approval", step.span,
                        hint=f"add a rule `when action.connector == \"{name}\" and … require approval \"…\"` for the "
                             "risky cases, or a gate step before this one")
