"""Playbooks: a trigger and a graph of steps.

A step has exactly one kind key: ``agent``, ``retrieve``, ``transform``, ``gate``, ``connector``,
``branch`` or ``map``. Strings that contain ``{{ }}`` are jinja2 templates, rendered in a sandbox.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from aios.limits import MAX_DURATION_DAYS
from aios.spec.base import Doc, DottedName, Duration, EventType, Name, RetrySpec, SchemaName, StepId

__all__ = [
    "PlaybookDoc", "StepDoc", "TriggerSpec", "WriteSpec", "RetrieveSpec", "GateSpec", "BranchSpec",
    "MapSpec", "MapBodySpec", "OnFailureSpec", "OutcomeSpec", "STEP_KINDS",
]

STEP_KINDS = ("agent", "retrieve", "transform", "gate", "connector", "branch", "map")


class TriggerSpec(Doc):
    event: EventType | None = None
    schedule: str | None = Field(default=None, description="cron expression, 5 fields")
    timezone: str | None = Field(default=None, description="IANA time zone of the schedule "
                                                           "(default: the workspace's `runtime.timezone`)")
    missed: Literal["run_once", "skip"] = "skip"
    webhook: Name | None = None
    file_drop: str | None = None
    payload: SchemaName | None = Field(default=None, description="schema of event.payload")


class WriteSpec(Doc):
    record: SchemaName = Field(alias="schema")
    id: str | None = None
    fields: dict[str, Any] | None = None


class RetrieveSpec(Doc):
    query: str
    top_k: int = Field(default=5, ge=1, le=100)
    filter: dict[str, Any] = {}
    half_life_days: float | None = Field(default=None, gt=0, le=MAX_DURATION_DAYS)


class GateSpec(Doc):
    message: str
    approvers: list[str] = []
    timeout: Duration | None = None
    on_timeout: Literal["reject", "approve"] = "reject"


class BranchSpec(Doc):
    when: str
    then: list[StepId] = []
    otherwise: list[StepId] = Field(default=[], alias="else")


class OnFailureSpec(Doc):
    retry: RetrySpec | None = None
    compensate: DottedName | None = None
    alert: bool = True


class MapBodySpec(Doc):
    agent: Name | None = None
    connector: DottedName | None = None
    transform: Any = None
    input: Any = None
    output: SchemaName | None = None
    idempotency_key: str | None = None


class MapSpec(Doc):
    over: str
    item: Name = Field(default="item", alias="as")
    do: MapBodySpec
    max_items: int = Field(default=100, ge=1, le=10000)


class StepDoc(Doc):
    id: StepId
    description: str | None = None
    needs: list[StepId] = []
    agent: Name | None = None
    retrieve: RetrieveSpec | None = None
    transform: Any = None
    gate: GateSpec | None = None
    connector: DottedName | None = None
    branch: BranchSpec | None = None
    map: MapSpec | None = None
    input: Any = None
    output: SchemaName | None = None
    writes: SchemaName | WriteSpec | None = None
    idempotency_key: str | None = None
    on_failure: OnFailureSpec | None = None
    timeout: Duration | None = None

    def kinds(self) -> list[str]:
        return [k for k in STEP_KINDS if getattr(self, k) is not None]


class OutcomeSpec(Doc):
    name: Name
    description: str | None = None
    goal: Literal["maximize", "minimize"] = "maximize"
    unit: str | None = None


class PlaybookDoc(Doc):
    kind: Literal["playbook"]
    name: Name
    description: str | None = None
    trigger: TriggerSpec
    steps: list[StepDoc] = Field(min_length=1)
    outcomes: list[OutcomeSpec] = []
    budget_usd: float | None = Field(default=None, ge=0)
