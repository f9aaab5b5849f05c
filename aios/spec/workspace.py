"""The workspace file, ``aios.yaml``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from aios.durations import MAX_DURATION_SECONDS
from aios.limits import MAX_DURATION_DAYS
from aios.spec.base import Doc, Name

__all__ = ["WorkspaceDoc", "ModelRouteSpec", "SecretSpec", "MemorySpec", "RuntimeSpec", "NotifySpec",
           "NotifyChannelSpec"]


class SecretSpec(Doc):
    """A secret is a reference to an environment variable; its value is never stored."""

    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    description: str | None = None
    required: bool = True


class ModelRouteSpec(Doc):
    """``model: offline`` is the embedded deterministic model; anything else goes through litellm."""

    model: str
    api_base: str | None = None
    api_key: str | None = Field(default=None, description="name of a secret in `secrets`")
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=60.0, gt=0, le=MAX_DURATION_SECONDS)
    max_retries: int = Field(default=2, ge=0, le=10)
    input_cost_per_1k: float | None = Field(default=None, ge=0)
    output_cost_per_1k: float | None = Field(default=None, ge=0)


class MemorySpec(Doc):
    knowledge_dir: str = "knowledge"
    half_life_days: float = Field(default=90.0, gt=0, le=MAX_DURATION_DAYS)
    cold_after_days: float = Field(default=30.0, gt=0, le=MAX_DURATION_DAYS)
    embedding: str | None = Field(default=None, description="model route used for vector ranking")


class RuntimeSpec(Doc):
    max_cost_usd_per_run: float | None = Field(default=None, ge=0)
    step_timeout_s: float = Field(default=300.0, gt=0, le=MAX_DURATION_SECONDS)
    actor: str = "operator"
    timezone: str = Field(default="UTC", max_length=64, description="IANA time zone in which policies read `now` and schedules tick")


class NotifyChannelSpec(Doc):
    """One channel: ``kind: email`` with ``to:``, or ``kind: webhook`` with ``url:`` and ``secret:``."""

    kind: str = Field(description="email or webhook")
    events: list[str] = Field(min_length=1, description="approval.requested, approval.reminder, "
                                                         "approval.timed_out, run.failed, alert.raised")
    to: list[str] | None = Field(default=None, description="email: recipients")
    url: str | None = Field(default=None, description="webhook: where the signed JSON is POSTed")
    secret: str | None = Field(default=None, description="webhook: name of the signing secret in `secrets`")


class NotifySpec(Doc):
    base_url: str | None = Field(default=None, description="links in notifications; default "
                                                           "http://127.0.0.1:<port> of `aios serve`")
    reminder_before_s: float = Field(default=3600.0, gt=0, le=MAX_DURATION_SECONDS,
                                     description="approval.reminder: this long before an approval times out")
    channels: dict[Name, NotifyChannelSpec] = Field(default_factory=dict)


class WorkspaceDoc(Doc):
    kind: Literal["workspace"] = "workspace"
    name: Name
    description: str | None = None
    storage: str = ".aios"
    default_model: str = "default"
    models: dict[str, ModelRouteSpec] = Field(default_factory=lambda: {"default": ModelRouteSpec(model="offline")})
    secrets: dict[str, SecretSpec] = Field(default_factory=dict)
    connectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    memory: MemorySpec = Field(default_factory=MemorySpec)
    runtime: RuntimeSpec = Field(default_factory=RuntimeSpec)
    notify: NotifySpec | None = None
