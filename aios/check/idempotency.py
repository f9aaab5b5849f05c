"""Idempotency keys that name the run instead of the effect.

A key is the identity of a side effect: the same event handled twice (a webhook redelivered, an
`aios emit` repeated) must render the same key, or the effect happens twice. A key that reads a value
that is new on every run (the run id, the arrival time, a random pick) renders a new key every time,
so the connector cannot recognise the repeat. Mixing in a stable part does not help: the whole key
still changes, so any run-varying part makes the key unstable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jinja2 import TemplateSyntaxError, nodes

from aios.check.context import CheckContext
from aios.plan.plan import Template
from aios.templating import sandbox

__all__ = ["RUN_VARYING", "check_key", "unstable_parts", "stable_key_hint"]

# What a key may not read, and why: paths, filters and globals whose value changes run by run.
RUN_VARYING: Mapping[str, str] = {
    "run.id": "the run id is new on every run",
    "run.started_at": "the run's start time is new on every run",
    "event.time": "the event time defaults to when the event arrived, so a resent event gets a new one",
    "event.received_at": "the arrival time is new on every delivery",
    "now": "the current time is new on every run",
    "random": "a random pick is new on every render",
    "lipsum": "generated text is new on every render",
}


def unstable_parts(source: str, shadowed: Iterable[str] = ()) -> list[str]:
    """The run-varying names a key template reads, in source order (`event.time`, `random`…).

    ``shadowed`` are names bound by the surrounding step (a map's item) that hide the scope's own."""
    try:
        ast = sandbox().parse(source)
    except TemplateSyntaxError:
        return []  # reported as template-syntax
    hidden = set(shadowed) | {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    found: list[tuple[int, int, str]] = []
    for node in ast.find_all((nodes.Getattr, nodes.Name, nodes.Filter, nodes.Call)):
        name = _varying_name(node, hidden)
        if name is not None:
            found.append((node.lineno, source.find(name), name))
    out: list[str] = []
    for _, _, name in sorted(found):
        if name not in out:
            out.append(name)
    return out


def _varying_name(node: nodes.Node, hidden: set[str]) -> str | None:
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name) and node.node.name not in hidden:
        path = f"{node.node.name}.{node.attr}"
        return path if path in RUN_VARYING else None
    if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in ("now", "lipsum") \
            and node.name not in hidden:
        return node.name
    if isinstance(node, nodes.Filter) and node.name == "random":
        return "random"
    return None


def stable_key_hint(step_id: str, written: Iterable[str]) -> str:
    """Suggest a key from what identifies the effect: a record written upstream, else the event id."""
    stable = f"`\"{step_id}-{{{{ event.id }}}}\"`"
    record = min(written, default=None)
    if record is not None:
        stable = f"`\"{step_id}-{{{{ records.{record}.id }}}}\"` or {stable}"
    return (f"build the key from what identifies the effect, e.g. {stable} (or a payload field that names it): "
            "a resent event keeps its id, so a retry, a resume or a duplicate never repeats the effect")


def check_key(ctx: CheckContext, key: Template, step_id: str, written: Iterable[str] | None,
              shadowed: Iterable[str] = ()) -> None:
    """Warn (`idempotency-key-unstable`) at the first run-varying part of a key template."""
    parts = unstable_parts(key.source, shadowed)
    if not parts or key.span is None:
        return
    also = f" (it also reads {', '.join(f'`{p}`' for p in parts[1:])})" if len(parts) > 1 else ""
    ctx.sink.report("idempotency-key-unstable",
                    f"the idempotency key of `{step_id}` changes on every run, so a resent event repeats the "
                    f"effect: it reads `{parts[0]}`, and {RUN_VARYING[parts[0]]}{also}",
                    ctx.locate(key.span, parts[0]), hint=stable_key_hint(step_id, written or ()))
