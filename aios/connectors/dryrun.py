"""Dry runs: walk a playbook with previews instead of side effects (``aios run … --dry-run``).

The real interpreter runs the real plan, with three differences: its state store is a throwaway
folder (no run, log entry or record reaches the workspace's store); every connector that has a side
effect is replaced by its preview, whose predicted output (or a placeholder shaped like the
contract's output) feeds the later steps; and an approval the run would wait for is noted and
assumed given, so the walk reaches the end. Policies decide as in a real run: a denial shows up
as the step the run would fail at. Models are called as configured (the offline model by default).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aios.connectors.api import Preview
from aios.connectors.registry import preview_of
from aios.plan.plan import Plan, SideEffect
from aios.plan.types import FieldType, RecordType, TypeKind
from aios.runtime.connectors import ConnectorCall, ConnectorFailed, ConnectorFn, ConnectorRegistry

__all__ = ["PlannedEffect", "PlannedApproval", "DryRunReport", "PreviewRegistry", "dry_run", "placeholder_output"]

_MAX_APPROVALS = 100


@dataclass(frozen=True, slots=True)
class PlannedEffect:
    """One connector call a real run would make."""

    step_id: str
    item: int | None
    connector: str
    side_effect: str
    key: str
    input: Mapping[str, Any]
    preview: Preview | None  # None: the connector has no preview
    error: str | None = None  # the preview refused the call (the real call would fail the same way)
    compensation: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step_id, "connector": self.connector, "side_effect": self.side_effect,
                               "key": self.key, "input": dict(self.input),
                               "preview": self.preview.to_json() if self.preview else None}
        if self.item is not None:
            out["item"] = self.item
        if self.error:
            out["error"] = self.error
        if self.compensation:
            out["compensation"] = True
        return out


@dataclass(frozen=True, slots=True)
class PlannedApproval:
    step_id: str
    kind: str  # "gate" or "policy"
    message: str
    rule: str | None
    approvers: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step_id, "kind": self.kind, "message": self.message, "rule": self.rule,
                "approvers": list(self.approvers)}


@dataclass(frozen=True)
class DryRunReport:
    playbook: str
    event_type: str
    status: str  # how the walk ended: completed, failed, rejected
    error: str | None
    failed_step: str | None
    effects: tuple[PlannedEffect, ...]
    approvals: tuple[PlannedApproval, ...]
    steps: tuple[tuple[str, str], ...] = field(default=())  # (step id, status) in plan order

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": True, "playbook": self.playbook, "event_type": self.event_type, "status": self.status,
                "error": self.error, "failed_step": self.failed_step,
                "steps": [{"id": s, "status": st} for s, st in self.steps],
                "effects": [e.to_json() for e in self.effects], "approvals": [a.to_json() for a in self.approvals]}


def _placeholder(t: FieldType, name: str) -> Any:
    k = t.kind
    if k in (TypeKind.STR, TypeKind.REF):
        return f"<dry-run {name}>"
    if k is TypeKind.INT:
        return 0
    if k is TypeKind.DECIMAL:
        return "0"
    if k is TypeKind.BOOL:
        return True
    if k is TypeKind.DATE:
        return date.today().isoformat()
    if k is TypeKind.DATETIME:
        return datetime.now(UTC).isoformat(timespec="seconds")
    if k is TypeKind.EMAIL:
        return "dry-run@example.invalid"
    if k is TypeKind.URL:
        return f"https://dry-run.invalid/{name}"
    if k is TypeKind.ENUM:
        return t.values[0] if t.values else ""
    if k is TypeKind.LIST:
        return []
    if k is TypeKind.OBJECT:
        return {}
    return None


def placeholder_output(record: RecordType) -> dict[str, Any]:
    """An output shaped like the contract's, for calls whose preview cannot predict one."""
    return {f.name: f.default if f.default is not None else _placeholder(f.type, f.name) for f in record.fields}


class PreviewRegistry(ConnectorRegistry):
    """Resolves every side-effecting connector to its preview; the rest run for real."""

    def __init__(self, workspace: Path) -> None:
        super().__init__(workspace)
        self.effects: list[PlannedEffect] = []
        self._previews: dict[str, ConnectorFn] = {}

    def resolve(self, plan: Plan, name: str) -> ConnectorFn:
        cached = self._previews.get(name)
        if cached is not None:
            return cached
        real = super().resolve(plan, name)
        contract = plan.connector_map.get(name)
        if contract is None or contract.side_effect is SideEffect.NONE:
            return real
        preview = preview_of(real)
        fn = self._previewing(name, contract.side_effect.value, contract.output, preview)
        self._previews[name] = fn
        return fn

    def _previewing(self, name: str, side_effect: str, output: RecordType,
                    preview: Callable[[ConnectorCall], Any] | None) -> ConnectorFn:
        def call_preview(call: ConnectorCall) -> Mapping[str, Any]:
            p = call.provenance
            compensation = call.idempotency_key.endswith(":compensate")
            if preview is None:
                self.effects.append(PlannedEffect(p.step_id, p.item, name, side_effect, call.idempotency_key,
                                                  dict(call.input), None, compensation=compensation))
                return placeholder_output(output)
            try:
                result = preview(call)
            except Exception as err:
                message = str(err) if isinstance(err, ConnectorFailed) else f"{type(err).__name__}: {err}"
                self.effects.append(PlannedEffect(p.step_id, p.item, name, side_effect, call.idempotency_key,
                                                  dict(call.input), None, message, compensation))
                raise ConnectorFailed(message, transient=False) from err
            self.effects.append(PlannedEffect(p.step_id, p.item, name, side_effect, call.idempotency_key,
                                              dict(call.input), result, compensation=compensation))
            if result.output is not None:
                return {**placeholder_output(output), **dict(result.output)}
            return placeholder_output(output)

        return call_preview


def dry_run(plan: Plan, root: Path, playbook: str, event: Any, *, retriever: Any = None,
            progress: Callable[[Any], None] | None = None) -> DryRunReport:
    """Walk ``playbook`` on ``event`` with previews; nothing reaches the workspace's store or targets."""
    from aios.runtime.interpreter import Runtime
    from aios.runtime.runstate import RunState, RunStatus

    registry = PreviewRegistry(root)
    approvals: list[PlannedApproval] = []
    with tempfile.TemporaryDirectory(prefix="aios-dry-run-") as tmp, \
            Runtime(plan, root, storage=Path(tmp), connectors=registry, retriever=retriever, progress=progress,
                    sleep=lambda _s: None, actor="dry-run") as rt:
        outcome = rt.start(playbook, event)
        for _ in range(_MAX_APPROVALS):
            a = outcome.approval
            if outcome.status is not RunStatus.WAITING or a is None:
                break
            approvals.append(PlannedApproval(a.step_id, a.kind.value, a.message, a.rule, a.approvers))
            who = a.approvers[0] if a.approvers else "dry-run"
            _, resumed = rt.decide(a.id, approve=True, actor=who, note="assumed approved in a dry run")
            assert resumed is not None
            outcome = resumed
        state = RunState.replay(rt.store.conn, outcome.run_id)
        pb = plan.playbook_map[playbook]
        steps = tuple((s.id, state.steps[s.id].status.value if s.id in state.steps else "not reached")
                      for s in pb.steps)
        event_type = state.event.type
    return DryRunReport(playbook, event_type, outcome.status.value, outcome.error, outcome.failed_step,
                        tuple(registry.effects), tuple(approvals), steps)
