"""Shared pieces of the document models: strict config, names, templates, field specs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from aios.durations import duration_seconds, too_long_message

__all__ = ["Doc", "Name", "DottedName", "EventType", "SchemaName", "StepId", "Duration", "FieldSpec", "FieldsSpec",
           "RetrySpec"]


class Doc(BaseModel):
    """Every document model: unknown keys are errors, and models are immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=80)]
DottedName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$",
                                              max_length=120)]
EventType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$", max_length=200)]
SchemaName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=80)]
StepId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=80)]


def _duration_in_range(text: str) -> str:
    if duration_seconds(text) is None:
        raise ValueError(too_long_message(text))
    return text


Duration = Annotated[str, StringConstraints(pattern=r"^[0-9]+(s|m|h|d)$"), AfterValidator(_duration_in_range)]
"""``30s``, ``15m``, ``2h``, ``3d``: at most `aios.limits.MAX_DURATION_DAYS`."""


class FieldSpec(Doc):
    """One field of a record schema or a connector's input/output.

    ``type`` is a type expression: ``str int decimal bool date datetime email url any``,
    ``enum[a, b]``, ``list[T]``, ``optional[T]`` (or ``T?``), ``ref[Schema]``.
    """

    type: str
    required: bool = True
    default: Any = None
    description: str | None = None


FieldsSpec = dict[str, FieldSpec | str]


class RetrySpec(Doc):
    max: int = Field(default=0, ge=0, le=100, description="retries after the first attempt")
    backoff: str = Field(default="exponential", pattern=r"^(none|fixed|exponential)$")
    base_s: float = Field(default=1.0, gt=0, le=3600)
    max_s: float = Field(default=60.0, gt=0, le=86400)
    jitter: bool = True
