"""The decision context: everything a rule may read, passed explicitly (never read from the clock).

``DecisionContext`` is what the interpreter builds before a model call, a connector call or a
record write, and what a decision records as its input snapshot. It round-trips through JSON
(``to_json`` / ``from_json``): `aios policy eval --input`, the JSONL replayed by `aios policy diff`
and the episodic log all use that form::

    {"action": {"kind": "connector", "connector": "cms.publish", "side_effect": "reversible",
                "step": "publish", "input": {"slug": "spring-menu"}},
     "run": {"id": "r-1", "playbook": "content-pipeline", "cost_usd": 0.4, "steps_taken": 3,
             "started_at": "2025-05-05T09:00:00+02:00"},
     "record": {"schema": "Project", "id": "p-1", "fields": {...}},   # only for record writes
     "actor": "operator",
     "now": "2025-05-05T10:00:00+02:00"}

Values inside ``input`` and ``record.fields`` stay as given (JSON values, or Python ``date``,
``datetime`` and ``Decimal``); compiled rules coerce them by their declared type when they read them.
The context does not copy them: treat them as frozen once the context exists.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from aios.errors import PolicyError

__all__ = [
    "ActionKind", "Action", "RunInfo", "RecordInfo", "NO_RECORD", "DecisionContext", "ContextError",
    "to_jsonable", "parse_datetime",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
SIDE_EFFECTS = ("none", "reversible", "irreversible")


class ContextError(PolicyError):
    """A decision context (usually JSON from a file) is malformed; ``path`` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class ActionKind(enum.StrEnum):
    CONNECTOR = "connector"
    MODEL = "model"
    RECORD = "record"


@dataclass(frozen=True, slots=True)
class Action:
    """What is about to happen.

    ``connector`` / ``input`` / ``side_effect`` for connector calls; ``route`` / ``model`` /
    ``agent`` for model calls; record writes carry the record in ``DecisionContext.record``.
    """

    kind: ActionKind
    connector: str | None = None
    input: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    side_effect: str | None = None
    step: str | None = None
    route: str | None = None
    model: str | None = None
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str = ""
    playbook: str | None = None
    cost_usd: float = 0.0
    steps_taken: int = 0
    started_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordInfo:
    """The canonical record being written; ``schema`` is None when the action writes no record."""

    schema: str | None = None
    id: str | None = None
    fields: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


NO_RECORD = RecordInfo()


@dataclass(frozen=True, slots=True)
class DecisionContext:
    action: Action
    now: dt.datetime
    run: RunInfo = RunInfo()
    record: RecordInfo = NO_RECORD
    actor: str = "operator"

    def __post_init__(self) -> None:
        if not isinstance(self.now, dt.datetime) or self.now.tzinfo is None:
            raise ContextError("now", "must be a timezone-aware datetime (rules never read the clock)")

    # -- constructors the interpreter uses ------------------------------------------------------
    @classmethod
    def for_connector(
        cls, connector: str, input: Mapping[str, Any], *, now: dt.datetime, side_effect: str | None = None,
        step: str | None = None, run: RunInfo = RunInfo(), actor: str = "operator",
        record: RecordInfo = NO_RECORD,
    ) -> DecisionContext:
        action = Action(ActionKind.CONNECTOR, connector=connector, input=input,
                        side_effect=_side_effect(side_effect), step=step)
        return cls(action, now, run, record, actor)

    @classmethod
    def for_model(
        cls, route: str, *, now: dt.datetime, model: str | None = None, agent: str | None = None,
        step: str | None = None, run: RunInfo = RunInfo(), actor: str = "operator",
    ) -> DecisionContext:
        action = Action(ActionKind.MODEL, route=route, model=model, agent=agent, step=step, side_effect="none")
        return cls(action, now, run, NO_RECORD, actor)

    @classmethod
    def for_record(
        cls, schema: str, fields: Mapping[str, Any], *, now: dt.datetime, id: str | None = None,
        step: str | None = None, run: RunInfo = RunInfo(), actor: str = "operator",
    ) -> DecisionContext:
        action = Action(ActionKind.RECORD, step=step, side_effect="none")
        return cls(action, now, run, RecordInfo(schema, id, fields), actor)

    # -- JSON -----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        a = self.action
        action: dict[str, Any] = {"kind": a.kind.value}
        for name in ("connector", "route", "model", "agent", "side_effect", "step"):
            value = getattr(a, name)
            if value is not None:
                action[name] = value
        if a.kind is ActionKind.CONNECTOR or a.input:
            action["input"] = to_jsonable(a.input)
        r = self.run
        out: dict[str, Any] = {
            "action": action,
            "run": {
                "id": r.id, "playbook": r.playbook, "cost_usd": r.cost_usd, "steps_taken": r.steps_taken,
                "started_at": r.started_at.isoformat() if r.started_at else None,
            },
        }
        if self.record.schema is not None:
            out["record"] = {"schema": self.record.schema, "id": self.record.id,
                             "fields": to_jsonable(self.record.fields)}
        out["actor"] = self.actor
        out["now"] = self.now.isoformat()
        return out

    @classmethod
    def from_json(cls, data: Any, *, side_effects: Mapping[str, str] | None = None) -> DecisionContext:
        """Build a context from its JSON form. ``side_effects`` (connector -> side effect, from the
        plan) fills ``action.side_effect`` when the JSON leaves it out. Raises ``ContextError``."""
        obj = _mapping(data, "")
        _only(obj, "", {"action", "run", "record", "actor", "now"})
        if "now" not in obj:
            raise ContextError("now", "is required: the time of the decision, e.g. \"2025-05-05T10:00:00+02:00\"")
        now = parse_datetime(obj["now"], "now")
        action = _action(obj.get("action"), side_effects or {})
        run = _run(obj.get("run"), now)
        record = _record(obj.get("record"))
        actor = obj.get("actor", "operator")
        if not isinstance(actor, str):
            raise ContextError("actor", "must be a string")
        return cls(action, now, run, record, actor)


def _side_effect(value: Any) -> str | None:
    if value is None:
        return None
    text = getattr(value, "value", value)  # accepts aios.plan.SideEffect
    if text not in SIDE_EFFECTS:
        raise ContextError("action.side_effect", f"must be one of {', '.join(SIDE_EFFECTS)}, not {text!r}")
    return str(text)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ContextError(path, f"must be an object, not {type(value).__name__}")
    return value


def _only(obj: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    for key in obj:
        if key not in allowed:
            import difflib

            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            extra = f"; did you mean `{close[0]}`?" if close else f"; expected one of {', '.join(sorted(allowed))}"
            raise ContextError(f"{path}.{key}" if path else str(key), f"unknown key{extra}")


def _opt_str(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ContextError(f"{path}.{key}", "must be a string")
    return value


def _action(data: Any, side_effects: Mapping[str, str]) -> Action:
    if data is None:
        raise ContextError("action", "is required")
    obj = _mapping(data, "action")
    _only(obj, "action", {"kind", "connector", "input", "side_effect", "step", "route", "model", "agent"})
    kind_text = obj.get("kind")
    if kind_text is None:
        kind_text = "connector" if "connector" in obj else "model" if "route" in obj else None
    try:
        kind = ActionKind(str(kind_text))
    except ValueError:
        raise ContextError("action.kind", "must be one of connector, model, record") from None
    connector = _opt_str(obj, "connector", "action")
    if kind is ActionKind.CONNECTOR and connector is None:
        raise ContextError("action.connector", "is required for a connector action")
    if kind is ActionKind.MODEL and obj.get("route") is None:
        raise ContextError("action.route", "is required for a model action")
    side = _side_effect(obj.get("side_effect"))
    if side is None:
        side = side_effects.get(connector, None) if connector else "none"
    raw_input = obj.get("input", {})
    inp = dict(_mapping(raw_input, "action.input")) if raw_input is not None else {}
    return Action(kind, connector=connector, input=inp, side_effect=side,
                  step=_opt_str(obj, "step", "action"), route=_opt_str(obj, "route", "action"),
                  model=_opt_str(obj, "model", "action"), agent=_opt_str(obj, "agent", "action"))


def _run(data: Any, now: dt.datetime) -> RunInfo:
    if data is None:
        return RunInfo(started_at=now)
    obj = _mapping(data, "run")
    _only(obj, "run", {"id", "playbook", "cost_usd", "steps_taken", "started_at"})
    cost = obj.get("cost_usd", 0.0)
    if isinstance(cost, str):
        try:
            cost = Decimal(cost)
        except ArithmeticError:
            raise ContextError("run.cost_usd", "must be a number") from None
    if isinstance(cost, bool) or not isinstance(cost, (int, float, Decimal)):
        raise ContextError("run.cost_usd", "must be a number")
    if isinstance(cost, Decimal):
        cost = float(cost) if cost.is_finite() else math.nan
    if not math.isfinite(cost):
        raise ContextError("run.cost_usd", "must be a finite number")
    steps = obj.get("steps_taken", 0)
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise ContextError("run.steps_taken", "must be an integer")
    started = obj.get("started_at", now)  # absent: the run starts now; an explicit null stays null
    return RunInfo(
        id=str(obj.get("id") or ""), playbook=_opt_str(obj, "playbook", "run"), cost_usd=float(cost),
        steps_taken=steps, started_at=parse_datetime(started, "run.started_at") if started is not None else None,
    )


def _record(data: Any) -> RecordInfo:
    if data is None:
        return NO_RECORD
    obj = _mapping(data, "record")
    _only(obj, "record", {"schema", "id", "fields"})
    schema = _opt_str(obj, "schema", "record")
    if schema is None:
        raise ContextError("record.schema", "is required when a record is given")
    rid = obj.get("id")
    return RecordInfo(schema, None if rid is None else str(rid), dict(_mapping(obj.get("fields", {}), "record.fields")))


def parse_datetime(value: Any, path: str) -> dt.datetime:
    """ISO 8601 text or a datetime; a value without an offset is taken as UTC."""
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, str):
        try:
            result = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ContextError(path, f"is not an ISO 8601 date-time: {value!r}") from None
    else:
        raise ContextError(path, "must be an ISO 8601 date-time string")
    if result.tzinfo is None:
        result = result.replace(tzinfo=dt.UTC)
    return result


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: dates in ISO 8601, Decimals as strings (exact), durations in seconds."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=repr)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    return str(value)
