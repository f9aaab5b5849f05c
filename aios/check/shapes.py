"""What a template variable holds, as far as the compiler knows: the shapes templates are checked
against (`event`, `steps.<id>.output`, `records.<Schema>`, map items, prompt inputs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aios.articles import a_or_an
from aios.plan.types import FieldType, RecordType, TypeKind

__all__ = ["Shape", "AnyShape", "ObjShape", "RecordShape", "FieldShape", "ListShape", "ANY_SHAPE", "member"]


class Shape:
    def describe(self) -> str:
        return "a value"


@dataclass(frozen=True)
class AnyShape(Shape):
    def describe(self) -> str:
        return "any value"


ANY_SHAPE = AnyShape()


@dataclass(frozen=True)
class ObjShape(Shape):
    name: str
    members: dict[str, Shape] = field(default_factory=dict, hash=False)
    meta: str = "object"  # what an unknown member means: "step", "schema" or plain "field"

    def describe(self) -> str:
        return self.name


@dataclass(frozen=True)
class RecordShape(Shape):
    record: RecordType

    def describe(self) -> str:
        return a_or_an(f"`{self.record.name}`")


@dataclass(frozen=True)
class FieldShape(Shape):
    type: FieldType

    def describe(self) -> str:
        return self.type.show()


@dataclass(frozen=True)
class ListShape(Shape):
    item: Shape

    def describe(self) -> str:
        return "a list"


def from_field_type(ft: FieldType, records: dict[str, RecordType]) -> Shape:
    if ft.kind is TypeKind.LIST:
        return ListShape(from_field_type(ft.items, records) if ft.items else ANY_SHAPE)
    if ft.kind in (TypeKind.ANY, TypeKind.OBJECT):
        return ANY_SHAPE
    return FieldShape(ft)


def member(shape: Shape, name: str, records: dict[str, RecordType]) -> tuple[Shape | None, list[str]]:
    """The shape of ``shape.name``: (shape, []) if known, (None, options) if it does not exist."""
    if isinstance(shape, AnyShape):
        return ANY_SHAPE, []
    if isinstance(shape, ObjShape):
        if name in shape.members:
            return shape.members[name], []
        return None, sorted(shape.members)
    if isinstance(shape, RecordShape):
        if name == "id":
            return FieldShape(FieldType(TypeKind.STR)), []
        f = shape.record.field(name)
        if f is None:
            return None, ["id", *shape.record.field_names()]
        return from_field_type(f.type, records), []
    return ANY_SHAPE, []  # attribute of a scalar or list: a method (`upper`, `items`); allowed


def item_of(shape: Shape) -> Shape:
    if isinstance(shape, ListShape):
        return shape.item
    return ANY_SHAPE
