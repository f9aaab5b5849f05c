"""A policy test case's input checked against the plan, as the interpreter would build it.

`DecisionContext.from_json` checks the shape of a context (`action`, `run`, `record`…); this checks
its *contents* against the workspace: the connector a case names and its contract's input fields
(names and value types), the record's schema and fields, the playbook. Without it a misspelt field
(`input: {subjct: s}`) makes a case pass while testing nothing the runtime would ever send.

A field left out is allowed: cases that check a rule fails closed on a missing value need that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aios.articles import a_or_an
from aios.check.records import IMPLICIT_FIELDS, value_fits
from aios.diagnostics import DiagnosticSink
from aios.plan import Plan
from aios.plan.types import RecordType
from aios.span import Span
from aios.spec.build import did_you_mean

__all__ = ["Locate", "check_case_input"]

# (path in the case input, point at the key rather than the value) -> where it is written
Locate = Callable[[tuple[str, ...], bool], Span]
_HINT = "see docs/policies.md, \"Testing policies\""


def check_case_input(plan: Plan, data: Mapping[str, Any], locate: Locate, case: str, sink: DiagnosticSink,
                     broken: frozenset[tuple[str, str]] = frozenset()) -> bool:
    """Report every way ``data`` (a merged case input) departs from the plan; True when it does not.
    A name in ``broken`` ((kind, name) of a document that did not build) is declared: not reported."""
    before = len(sink.items)

    def fail(message: str, path: tuple[str, ...], key: bool, hint: str | None = None) -> None:
        sink.report("policy-test-input", f"case `{case}`: {message}", locate(path, key), hint=hint or _HINT)

    action = data.get("action")
    if isinstance(action, Mapping):
        connector = action.get("connector")
        kind = action.get("kind") or ("connector" if connector is not None else None)
        if kind == "connector" and isinstance(connector, str):
            contract = plan.connector_map.get(connector)
            if contract is None and ("connector", connector) not in broken:
                fail(f"unknown connector `{connector}`", ("action", "connector"), False,
                     _options(connector, plan.connector_map, "connectors"))
            elif contract is not None:
                _fields(contract.input, action.get("input"), ("action", "input"), f"`{connector}` input",
                        fail, implicit=())
    record = data.get("record")
    if isinstance(record, Mapping) and isinstance(record.get("schema"), str):
        schema = record["schema"]
        rtype = plan.schema_map.get(schema)
        if rtype is None and ("schema", schema) not in broken:
            fail(f"unknown schema `{schema}`", ("record", "schema"), False, _options(schema, plan.schema_map, "schemas"))
        elif rtype is not None:
            _fields(rtype, record.get("fields", {}), ("record", "fields"), f"{a_or_an(f'`{schema}`')} record", fail,
                    implicit=IMPLICIT_FIELDS)
    run = data.get("run")
    playbook = run.get("playbook") if isinstance(run, Mapping) else None
    names = [p.name for p in plan.playbooks]
    if isinstance(playbook, str) and names and playbook not in names and ("playbook", playbook) not in broken:
        fail(f"unknown playbook `{playbook}`", ("run", "playbook"), False, _options(playbook, names, "playbooks"))
    return len(sink.items) == before


def _fields(rtype: RecordType, value: Any, path: tuple[str, ...], what: str,
            fail: Callable[[str, tuple[str, ...], bool, str | None], None], implicit: Iterable[str]) -> None:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        return  # the context's own shape check reports it
    skip = set(implicit)
    for key, v in value.items():
        name = str(key)
        fdef = rtype.field(name)
        if fdef is None:
            if name not in skip:
                fail(f"{what} has no field `{name}`", (*path, name), True,
                     _options(name, rtype.field_names(), "fields"))
        elif not value_fits(fdef.type, v):
            fail(f"field `{name}` of {what} must be {fdef.type.show()}, got {v!r}", (*path, name), False, None)


def _options(name: str, known: Iterable[str], what: str) -> str:
    opts = sorted(known)
    return did_you_mean(name, opts) or (f"{what}: " + ", ".join(f"`{o}`" for o in opts[:12]) if opts
                                        else f"no {what} are declared")
