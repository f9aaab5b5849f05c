"""The durable runtime: interpreter, run state, episodic log, records, approvals, alerts, recovery.

Submodules are imported on use; importing ``aios.runtime`` itself loads nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aios.runtime.interpreter import RunOutcome, Runtime

__all__ = ["Runtime", "RunOutcome"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from aios.runtime import interpreter

        return getattr(interpreter, name)
    raise AttributeError(name)
