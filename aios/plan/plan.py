"""The compiled plan: frozen dataclasses, tuples and enums only.

The plan and the interpreter never import the loader, the spec models or the parser. A plan is
content-hashed (spans excluded, so a comment or a moved line does not make a new plan).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from aios.plan.notify import NotifySettings
from aios.plan.types import RecordType
from aios.span import Span

__all__ = [
    "WEBHOOK_SECRET_PREFIX", "StepKind", "SideEffect", "Backoff", "Template", "Lit", "TMap", "TList", "TValue", "RetryPolicy",
    "RecordWrite", "RetrieveConfig", "GateConfig", "BranchConfig", "MapConfig", "Step", "Trigger",
    "Outcome", "Playbook", "Agent", "Connector", "Variant", "Flag", "ModelRoute", "Secret",
    "WorkspaceSettings", "PolicyBundle", "Plan",
]


WEBHOOK_SECRET_PREFIX = "webhook_"
"""The signing secret of webhook source ``S`` is the workspace secret named ``webhook_S``."""


class StepKind(enum.Enum):
    AGENT = "agent"
    RETRIEVE = "retrieve"
    TRANSFORM = "transform"
    GATE = "gate"
    CONNECTOR = "connector"
    BRANCH = "branch"
    MAP = "map"


class SideEffect(enum.Enum):
    NONE = "none"
    REVERSIBLE = "reversible"
    IRREVERSIBLE = "irreversible"


class Backoff(enum.Enum):
    NONE = "none"
    FIXED = "fixed"
    EXPONENTIAL = "exponential"


@dataclass(frozen=True, slots=True)
class Template:
    """A jinja2 template (``{{ … }}``) or, with ``expression=True``, a bare jinja2 expression."""

    source: str
    span: Span | None = field(default=None, compare=False, repr=False)
    expression: bool = False


@dataclass(frozen=True, slots=True)
class Lit:
    value: str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class TMap:
    items: tuple[tuple[str, TValue], ...]


@dataclass(frozen=True, slots=True)
class TList:
    items: tuple[TValue, ...]


TValue = Template | Lit | TMap | TList


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 0
    backoff: Backoff = Backoff.EXPONENTIAL
    base_s: float = 1.0
    max_s: float = 60.0
    jitter: bool = True


@dataclass(frozen=True, slots=True)
class RecordWrite:
    schema: str
    id: Template | None = None
    fields: TValue | None = None


@dataclass(frozen=True, slots=True)
class RetrieveConfig:
    query: Template
    top_k: int = 5
    filter: TValue = TMap(())
    half_life_days: float | None = None


@dataclass(frozen=True, slots=True)
class GateConfig:
    message: Template
    approvers: tuple[str, ...] = ()
    timeout_s: float | None = None
    on_timeout: str = "reject"


@dataclass(frozen=True, slots=True)
class BranchConfig:
    when: Template
    then: tuple[str, ...] = ()
    otherwise: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MapConfig:
    over: Template
    item: str
    kind: StepKind
    agent: str | None = None
    connector: str | None = None
    transform: TValue | None = None
    input: TValue | None = None
    output_schema: str | None = None
    idempotency_key: Template | None = None
    max_items: int = 100


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    kind: StepKind
    needs: tuple[str, ...] = ()
    description: str | None = None
    agent: str | None = None
    connector: str | None = None
    input: TValue | None = None
    transform: TValue | None = None
    output_schema: str | None = None
    writes: RecordWrite | None = None
    idempotency_key: Template | None = None
    retry: RetryPolicy = RetryPolicy()
    compensate: str | None = None
    alert_on_failure: bool = True
    timeout_s: float | None = None
    retrieve: RetrieveConfig | None = None
    gate: GateConfig | None = None
    branch: BranchConfig | None = None
    map: MapConfig | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Trigger:
    event: str | None = None
    schedule: str | None = None
    missed: str = "skip"
    webhook: str | None = None
    file_drop: str | None = None
    payload_schema: str | None = None
    timezone: str | None = None  # a schedule's own zone; None: the workspace's


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    goal: str = "maximize"
    unit: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Playbook:
    name: str
    trigger: Trigger
    steps: tuple[Step, ...]  # in a topological order of `needs` (stable: source order breaks ties)
    outcomes: tuple[Outcome, ...] = ()
    budget_usd: float | None = None
    description: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    role: str
    model_route: str
    prompt_file: str
    tools: tuple[str, ...] = ()
    output_schema: str | None = None
    flag: str | None = None
    description: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Connector:
    name: str
    input: RecordType
    output: RecordType
    side_effect: SideEffect
    compensation: str | None = None
    retry: RetryPolicy | None = None
    can_preview: bool = False
    can_reconcile: bool = False
    module: str | None = None
    secrets: tuple[str, ...] = ()
    builtin: bool = False
    description: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    share: float
    prompt_file: str | None = None
    model_route: str | None = None


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    variants: tuple[Variant, ...]
    metric: str | None = None
    rollback_below: float | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ModelRoute:
    name: str
    model: str  # "offline" for the embedded deterministic model
    api_base: str | None = None
    api_key_secret: str | None = None
    temperature: float = 0.0
    max_tokens: int | None = None
    timeout_s: float = 60.0
    max_retries: int = 2
    input_cost_per_1k: float | None = None
    output_cost_per_1k: float | None = None

    @property
    def offline(self) -> bool:
        return self.model == "offline" or self.model.startswith("offline/")


@dataclass(frozen=True, slots=True)
class Secret:
    name: str
    env: str
    required: bool = True


@dataclass(frozen=True, slots=True)
class WorkspaceSettings:
    name: str
    storage: str = ".aios"
    default_model: str = "default"
    knowledge_dir: str = "knowledge"
    half_life_days: float = 90.0
    cold_after_days: float = 30.0
    embedding_route: str | None = None
    max_cost_usd_per_run: float | None = None
    step_timeout_s: float = 300.0
    actor: str = "operator"
    timezone: str = "UTC"
    connector_settings: tuple[tuple[str, TValue], ...] = ()
    notify: NotifySettings | None = None


@dataclass(frozen=True)
class PolicyBundle:
    """Where the compiled policies plug into the plan.

    ``compiled`` is the policy plane's own frozen object (see ``aios.policy``); the plan only
    carries it and its hash, so the plan module never imports the rule compiler.
    """

    content_hash: str
    sources: tuple[tuple[str, str], ...] = ()  # (file, sha256) per rules file
    compiled: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Plan:
    settings: WorkspaceSettings
    routes: tuple[ModelRoute, ...]
    secrets: tuple[Secret, ...]
    schemas: tuple[RecordType, ...]
    agents: tuple[Agent, ...]
    connectors: tuple[Connector, ...]
    flags: tuple[Flag, ...]
    playbooks: tuple[Playbook, ...]
    prompts: tuple[tuple[str, str], ...]  # (workspace-relative path, template source)
    policies: PolicyBundle
    content_hash: str = ""

    @cached_property
    def schema_map(self) -> dict[str, RecordType]:
        return {s.name: s for s in self.schemas}

    @cached_property
    def agent_map(self) -> dict[str, Agent]:
        return {a.name: a for a in self.agents}

    @cached_property
    def connector_map(self) -> dict[str, Connector]:
        return {c.name: c for c in self.connectors}

    @cached_property
    def playbook_map(self) -> dict[str, Playbook]:
        return {p.name: p for p in self.playbooks}

    @cached_property
    def route_map(self) -> dict[str, ModelRoute]:
        return {r.name: r for r in self.routes}

    @cached_property
    def flag_map(self) -> dict[str, Flag]:
        return {f.name: f for f in self.flags}

    @cached_property
    def secret_map(self) -> dict[str, Secret]:
        return {s.name: s for s in self.secrets}

    @cached_property
    def prompt_map(self) -> dict[str, str]:
        return dict(self.prompts)
