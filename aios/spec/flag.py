"""Flags: variants of a prompt, model route or policy, each with a share of traffic."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aios.spec.base import Doc, Name

__all__ = ["FlagDoc", "VariantSpec"]


class VariantSpec(Doc):
    name: Name
    share: float = Field(ge=0, le=100, description="percent of traffic")
    prompt: str | None = None
    model: str | None = None


class FlagDoc(Doc):
    kind: Literal["flag"]
    name: Name
    description: str | None = None
    variants: list[VariantSpec] = Field(min_length=1)
    metric: str | None = None
    rollback_below: float | None = None
