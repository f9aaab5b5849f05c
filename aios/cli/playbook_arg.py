"""The PLAYBOOK argument of `aios run`: a playbook's name, or the path of the file declaring it; and
the hint for an event a playbook cannot take as it is."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from aios.cli.choices import unknown_value
from aios.cli.state import fail
from aios.plan import Plan
from aios.plan.plan import Playbook

__all__ = ["resolve_playbook", "event_hint", "playbook_for_event"]


def _as_workspace_file(spec: str, root: Path) -> str | None:
    """``spec`` as a workspace-relative POSIX path, if it names a file inside the workspace."""
    if not spec.endswith((".yaml", ".yml")) and "/" not in spec and "\\" not in spec:
        return None
    for candidate in (Path(spec), root / spec):
        if candidate.is_file():
            try:
                return candidate.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                return None
    return None


def resolve_playbook(plan: Plan, root: Path, spec: str) -> Playbook:
    """The playbook named ``spec``, or the one playbook in the file ``spec``; otherwise a usage
    error (exit 2) with a did-you-mean, or the list of the playbooks in that file."""
    pb = plan.playbook_map.get(spec)
    if pb is not None:
        return pb
    rel = _as_workspace_file(spec, root)
    if rel is None:
        raise click.BadParameter(unknown_value(spec, plan.playbook_map, "playbook"), param_hint="PLAYBOOK")
    inside = [p for p in plan.playbooks if p.span is not None and p.span.file == rel]
    if len(inside) == 1:
        return inside[0]
    if not inside:
        known = ", ".join(sorted(plan.playbook_map)) or "none"
        raise click.BadParameter(f"{rel} declares no playbook (playbooks: {known})", param_hint="PLAYBOOK")
    names = ", ".join(p.name for p in inside)
    raise click.BadParameter(f"{rel} declares {len(inside)} playbooks; name one: {names}", param_hint="PLAYBOOK")


def event_hint(pb: Playbook, event: Any) -> str | None:
    """How to run ``pb`` by hand when ``event`` has no `type` and the trigger names no event type."""
    typed = isinstance(event, Mapping) and "payload" in event and event.get("type")
    if typed or pb.trigger.event:
        return None
    if pb.trigger.schedule:
        return (f"`{pb.name}` runs on a schedule ({pb.trigger.schedule}); to run it by hand, give the event a "
                f"type, e.g. `echo '{{\"type\": \"schedule.tick\", \"payload\": {{\"playbook\": \"{pb.name}\", "
                f"\"scheduled_for\": \"2026-01-05T09:00+00:00\"}}}}' | aios run {pb.name} --event -` "
                "(see docs/live.md, \"Running a scheduled playbook by hand\")")
    if pb.trigger.webhook:
        return (f"`{pb.name}` runs on webhook `{pb.trigger.webhook}`; give the event a type, e.g. "
                f"{{\"type\": \"webhook.{pb.trigger.webhook}\", \"payload\": {{…}}}}")
    if pb.trigger.file_drop:
        return (f"`{pb.name}` runs on files dropped in `{pb.trigger.file_drop}`; give the event a type, e.g. "
                "{\"type\": \"file.dropped\", \"payload\": {…}}")
    return None


def playbook_for_event(plan: Plan, root: Path, spec: str, event: Any) -> str:
    """The name of the playbook ``spec`` names, once it is known the event can start it as given."""
    pb = resolve_playbook(plan, root, spec)
    hint = event_hint(pb, event)
    if hint:
        fail(f"the event has no `type`, and playbook `{pb.name}`'s trigger names no event type\n  hint: {hint}")
    return pb.name
