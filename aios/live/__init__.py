"""Live operation: the canonical event stream, triggers, the webhook intake, schedules, drop folders,
hot reload, and the server process behind `aios serve` and `aios dev` (see docs/live.md).

Stages, imports flowing one way::

    events (LiveEvent) → journal (durable stream) → routing (triggers) → dispatch (runs)
    webhooks · scheduler · drops  produce events;  reload swaps the plan (current);  server wires it all

Submodules are imported on use; importing ``aios.live`` loads nothing (no starlette, no watchfiles).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aios.live.current import CurrentPlan
    from aios.live.events import LiveEvent
    from aios.live.reload import Reloader, ReloadReport
    from aios.live.server import LiveServer, ServeOptions

__all__ = ["LiveEvent", "CurrentPlan", "Reloader", "ReloadReport", "LiveServer", "ServeOptions"]

_WHERE = {"LiveEvent": "aios.live.events", "CurrentPlan": "aios.live.current", "Reloader": "aios.live.reload",
          "ReloadReport": "aios.live.reload", "LiveServer": "aios.live.server", "ServeOptions": "aios.live.server"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)
