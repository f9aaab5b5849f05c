"""The one exception hierarchy. Diagnostics are values; exceptions only abort."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aios.diagnostics import Diagnostic

__all__ = ["AiosError", "CompileError", "UsageError", "RunError", "PolicyError", "StorageError"]


class AiosError(Exception):
    """Root of every error aios raises on purpose."""


class UsageError(AiosError):
    """The user asked for something that cannot be done (bad argument, missing workspace)."""


class CompileError(AiosError):
    """A workspace did not compile; carries every diagnostic found."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity.name == "ERROR"]
        super().__init__(f"workspace has {len(errors)} error(s)")


class RunError(AiosError):
    """A run could not be started, resumed or continued."""


class PolicyError(AiosError):
    """A policy could not be evaluated (always fails closed)."""


class StorageError(AiosError):
    """The state store is missing, corrupt or locked."""
