"""Agents: a role, a model route, a prompt template, tools and an output schema."""

from __future__ import annotations

from typing import Literal

from aios.spec.base import Doc, DottedName, Name, SchemaName

__all__ = ["AgentDoc"]


class AgentDoc(Doc):
    kind: Literal["agent"]
    name: Name
    description: str | None = None
    role: str
    model: str | None = None
    prompt: str
    tools: list[DottedName] = []
    output: SchemaName | None = None
    flag: Name | None = None
