"""What the interpreter hands back and reports while it works."""

from __future__ import annotations

from dataclasses import dataclass

from aios.runtime.approvals import Approval
from aios.runtime.runstate import RunStatus

__all__ = ["RunOutcome", "Progress"]


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: str
    status: RunStatus
    error: str | None = None
    failed_step: str | None = None
    approval: Approval | None = None  # set when the run waits for one
    cost_usd: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.COMPLETED


@dataclass(frozen=True, slots=True)
class Progress:
    """One line of live progress: a step changed state (``step_id`` None: the run did)."""

    run_id: str
    step_id: str | None
    kind: str
    status: str
    detail: str = ""
    ms: float | None = None
