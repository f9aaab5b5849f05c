"""The typing environment of rules, taken from the plan: what ``action``, ``run``, ``record``,
``actor`` and ``now`` hold, and which closed sets (connectors, schemas, routes …) strings belong to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from aios.plan import Plan
from aios.plan.types import FieldDef
from aios.policy import ptypes as T
from aios.policy.ptypes import PType

__all__ = ["FieldInfo", "TypingEnv", "Path", "ROOTS", "ACTION_KINDS", "SIDE_EFFECTS"]

Path = tuple[str, ...]

ROOTS = ("action", "run", "record", "actor", "now")
ACTION_KINDS = ("connector", "model", "record")
SIDE_EFFECTS = ("none", "reversible", "irreversible")


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """A field of a contract or schema as rules read it."""

    name: str
    type: PType
    mode: str  # "required" | "optional" | "default"
    default: object = None


def _field_info(f: FieldDef) -> FieldInfo:
    t = T.from_field(f)
    if t.optional:
        mode = "optional"
    elif not f.required and f.default is not None:
        mode = "default"
    else:
        mode = "required"
    return FieldInfo(f.name, t, mode, f.default if mode == "default" else None)


class TypingEnv:
    """Built once per compile from the plan (only names and types are read)."""

    def __init__(self, plan: Plan, broken: frozenset[tuple[str, str]] = frozenset()) -> None:
        # (kind, name) of workspace documents that did not build: declared, so never "unknown"
        self.broken = broken
        self.connector_inputs: Mapping[str, Mapping[str, FieldInfo]] = MappingProxyType({
            c.name: MappingProxyType({f.name: _field_info(f) for f in c.input.fields}) for c in plan.connectors
        })
        self.side_effects: Mapping[str, str] = MappingProxyType(
            {c.name: c.side_effect.value for c in plan.connectors})
        self.schemas: Mapping[str, Mapping[str, FieldInfo]] = MappingProxyType({
            s.name: MappingProxyType({f.name: _field_info(f) for f in s.fields}) for s in plan.schemas
        })
        connectors = tuple(sorted(self.connector_inputs))
        schemas = tuple(sorted(self.schemas))
        routes = tuple(sorted(r.name for r in plan.routes))
        agents = tuple(sorted(a.name for a in plan.agents))
        playbooks = tuple(sorted(p.name for p in plan.playbooks))
        self.universes: dict[Path, frozenset[str]] = {
            ("action", "kind"): frozenset(ACTION_KINDS),
            ("action", "connector"): frozenset(connectors),
            ("action", "side_effect"): frozenset(SIDE_EFFECTS),
            ("record", "schema"): frozenset(schemas),
        }
        # Routes, agents and playbooks are closed only when the plan declares some (a plan built for
        # a policy-only check may carry none; then any name is accepted).
        self.action_fields: dict[str, PType] = {
            "kind": T.str_of(ACTION_KINDS, "action kind"),
            "connector": T.str_of(connectors, "connector", optional=True),
            "side_effect": T.str_of(SIDE_EFFECTS, "side effect"),
            "step": T.STR.nullable(),
            "route": (T.str_of(routes, "route", optional=True) if routes else T.STR.nullable()),
            "model": T.STR.nullable(),
            "agent": (T.str_of(agents, "agent", optional=True) if agents else T.STR.nullable()),
        }
        if routes:
            self.universes[("action", "route")] = frozenset(routes)
        if agents:
            self.universes[("action", "agent")] = frozenset(agents)
        if playbooks:
            self.universes[("run", "playbook")] = frozenset(playbooks)
        self.run_fields: dict[str, PType] = {
            "id": T.STR,
            "playbook": (T.str_of(playbooks, "playbook", optional=True) if playbooks else T.STR.nullable()),
            "cost_usd": T.money("USD"),
            "steps_taken": T.INT,
            "started_at": T.DATETIME,
        }
        self.record_meta: dict[str, PType] = {
            "schema": T.str_of(schemas, "schema", optional=True),
            "id": T.STR.nullable(),
        }

    def input_fields_anywhere(self, name: str) -> tuple[str, ...]:
        return tuple(c for c, fields in sorted(self.connector_inputs.items()) if name in fields)

    def all_input_field_names(self) -> tuple[str, ...]:
        return tuple(sorted({n for fields in self.connector_inputs.values() for n in fields}))

    def schema_fields_anywhere(self, name: str) -> tuple[str, ...]:
        return tuple(s for s, fields in sorted(self.schemas.items()) if name in fields)

    def all_schema_field_names(self) -> tuple[str, ...]:
        return tuple(sorted({n for fields in self.schemas.values() for n in fields}))
