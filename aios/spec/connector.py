"""Connector contracts: what a connector takes, returns, and what its side effect is."""

from __future__ import annotations

from typing import Literal

from aios.spec.base import Doc, DottedName, FieldsSpec, RetrySpec, SchemaName

__all__ = ["ConnectorDoc"]


class ConnectorDoc(Doc):
    kind: Literal["connector"]
    name: DottedName
    description: str | None = None
    input: FieldsSpec | SchemaName = {}
    output: FieldsSpec | SchemaName = {}
    side_effect: Literal["none", "reversible", "irreversible"]
    compensation: DottedName | None = None
    retry: RetrySpec | None = None
    preview: bool = False
    reconcile: bool = False
    module: str | None = None
    secrets: list[str] = []
