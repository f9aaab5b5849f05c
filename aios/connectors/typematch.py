"""Does a connector's Python input/output type match its contract's fields?

Input: every value the contract lets a playbook send must be accepted by the input model, and
the model must not require anything the contract does not send. Output: every value the model can
hold must satisfy the contract's output fields. Pydantic models and dataclasses are compared field
by field; other types are not introspected.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Union

from pydantic import BaseModel

from aios.plan.types import FieldType, RecordType, TypeKind

__all__ = ["ModelField", "Mismatch", "model_fields", "mismatches", "show_annotation"]

Direction = Literal["input", "output"]


@dataclass(frozen=True, slots=True)
class ModelField:
    name: str  # as it appears in the JSON object (the alias, when there is one)
    annotation: Any
    required: bool


@dataclass(frozen=True, slots=True)
class Mismatch:
    field: str | None  # the contract field to blame, when there is one
    message: str


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def show_annotation(tp: Any) -> str:
    tp = _unwrap(tp)
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def model_fields(tp: Any) -> tuple[dict[str, ModelField], bool] | None:
    """(fields by JSON name, whether unknown keys are accepted), or None if ``tp`` is not a model."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        out: dict[str, ModelField] = {}
        for name, info in tp.model_fields.items():
            key = info.alias or name
            out[key] = ModelField(key, info.annotation, info.is_required())
        return out, tp.model_config.get("extra") == "allow"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        try:
            hints = typing.get_type_hints(tp)
        except Exception:
            return None
        fields: dict[str, ModelField] = {}
        for f in dataclasses.fields(tp):
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            fields[f.name] = ModelField(f.name, hints.get(f.name, Any), required)
        return fields, False
    return None


def _nullable(tp: Any) -> bool:
    tp = _unwrap(tp)
    if tp is Any or tp is None or tp is type(None):
        return True
    if typing.get_origin(tp) in (Union, types.UnionType):
        return any(_nullable(a) for a in typing.get_args(tp))
    return False


def _is_str(tp: Any) -> bool:
    return isinstance(tp, type) and (issubclass(tp, str) or tp.__module__.startswith("pydantic"))


def _accepts(ft: FieldType, tp: Any, direction: Direction) -> bool:
    tp = _unwrap(tp)
    k = ft.kind
    if tp is Any or tp is object or k is TypeKind.ANY:
        return True
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        check = any if direction == "input" else all
        return check(_accepts(ft, a, direction) for a in options)
    if origin is Literal:
        values = {v for v in typing.get_args(tp)}
        if k is TypeKind.ENUM:
            return set(ft.values) <= values if direction == "input" else values <= set(ft.values)
        return direction == "output" and k in (TypeKind.STR, TypeKind.EMAIL, TypeKind.URL, TypeKind.REF) and \
            all(isinstance(v, str) for v in values)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = {str(m.value) for m in tp}
        if k is TypeKind.ENUM:
            return set(ft.values) <= values if direction == "input" else values <= set(ft.values)
        return direction == "output" and k is TypeKind.STR
    if k in (TypeKind.STR, TypeKind.REF, TypeKind.EMAIL, TypeKind.URL):
        return _is_str(tp)
    if k is TypeKind.ENUM:
        return _is_str(tp) if direction == "input" else False
    if k is TypeKind.INT:
        return tp is int or (direction == "input" and tp in (float, Decimal))
    if k is TypeKind.DECIMAL:
        return tp in (Decimal, float) or (direction == "output" and tp is int)
    if k is TypeKind.BOOL:
        return tp is bool
    if k is TypeKind.DATE:
        return tp is date or (direction == "input" and _is_str(tp))
    if k is TypeKind.DATETIME:
        return tp is datetime or (direction == "input" and _is_str(tp))
    if k is TypeKind.LIST:
        seq = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable,
               collections.abc.Collection)
        if tp in seq:
            return True
        if origin not in seq:
            return False
        args = typing.get_args(tp)
        return ft.items is None or not args or _accepts(ft.items, args[0], direction)
    if k is TypeKind.OBJECT:
        return (tp in (dict, collections.abc.Mapping) or origin in (dict, collections.abc.Mapping)
                or (isinstance(tp, type) and (issubclass(tp, BaseModel) or dataclasses.is_dataclass(tp))))
    return False


def _optional_in_contract(rt: RecordType, name: str) -> bool:
    f = rt.field(name)
    return f is not None and (not f.required or f.type.optional or f.default is not None)


def mismatches(contract: RecordType, tp: Any, direction: Direction) -> list[Mismatch]:
    """Problems between ``contract`` (a connector's input or output fields) and the Python type."""
    described = model_fields(tp)
    if described is None:
        return []
    fields, open_ended = described
    tname = getattr(tp, "__name__", str(tp))
    out: list[Mismatch] = []
    for cf in contract.fields:
        mf = fields.get(cf.name)
        if mf is None:
            if direction == "input" and not open_ended:
                out.append(Mismatch(cf.name, f"the contract's input `{cf.name}` is not a field of {tname}, so the "
                                             "connector would never see it"))
            elif direction == "output" and cf.required and not cf.type.optional:
                out.append(Mismatch(cf.name, f"the contract's output `{cf.name}` is not a field of {tname}"))
            continue
        if not _accepts(cf.type.with_optional(False), mf.annotation, direction):
            out.append(Mismatch(cf.name, f"`{cf.name}` is {cf.type.show()} in the contract's {direction} but "
                                         f"{show_annotation(mf.annotation)} in {tname}"))
            continue
        if direction == "input":
            if mf.required and _optional_in_contract(contract, cf.name):
                out.append(Mismatch(cf.name, f"`{cf.name}` is optional in the contract's input but {tname} requires it"))
            elif cf.type.optional and not _nullable(mf.annotation):
                out.append(Mismatch(cf.name, f"`{cf.name}` may be null in the contract's input but {tname} does not "
                                             "accept null"))
        elif cf.required and not cf.type.optional and cf.type.kind is not TypeKind.ANY and _nullable(mf.annotation):
            out.append(Mismatch(cf.name, f"`{cf.name}` is required in the contract's output but {tname} may leave it "
                                         "null"))
    if direction == "input":
        for name, mf in fields.items():
            if mf.required and contract.field(name) is None:
                out.append(Mismatch(None, f"{tname} requires `{name}`, which the contract's input does not have"))
    return out
