"""Canonical record schemas."""

from __future__ import annotations

from typing import Literal

from aios.spec.base import Doc, FieldsSpec, SchemaName

__all__ = ["SchemaDoc"]


class SchemaDoc(Doc):
    kind: Literal["schema"]
    name: SchemaName
    description: str | None = None
    key: str | None = None
    fields: FieldsSpec
