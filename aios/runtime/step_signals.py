"""How a step tells the step loop that it cannot complete now: it waits for an approval, or it failed.

Raised by the step kinds (``execution``, ``map_step``) and handled by the loop in ``execution``."""

from __future__ import annotations

from typing import Any

from aios.runtime.approvals import Approval

__all__ = ["Wait", "StepFailure"]


class Wait(Exception):
    """The step waits for ``approval`` (pending), or for a new one described by ``request``."""

    def __init__(self, approval: Approval | None = None, request: dict[str, Any] | None = None) -> None:
        super().__init__("waiting for approval")
        self.approval = approval
        self.request = request


class StepFailure(Exception):
    """``detail``: what the step's ``step.failed`` entry carries besides the error (a deny's decision)."""

    def __init__(self, message: str, *, transient: bool = False, attempts: int = 1, rejected: bool = False,
                 detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.attempts = attempts
        self.rejected = rejected
        self.detail = detail
