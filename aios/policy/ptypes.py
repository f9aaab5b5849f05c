"""Types of rule expressions, and how record and contract field types map onto them.

Money carries its currency in the type, so `200 EUR` compared with a USD amount is a compile error
and no currency exists at run time. A string type may carry a closed set of values (connector names,
schema names, enum values, weekdays) so that a misspelt literal is caught at compile time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from aios.plan.types import FieldDef, FieldType, TypeKind
from aios.policy.currencies import currency_of_field

__all__ = ["TK", "PType", "BOOL", "INT", "NUM", "STR", "DURATION", "DATE", "DATETIME", "NULL", "ANY",
           "money", "str_of", "list_of", "from_field", "WEEKDAYS"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TK(enum.Enum):
    BOOL = "bool"
    INT = "int"
    NUM = "number"
    STR = "str"
    MONEY = "money"
    DURATION = "duration"
    DATE = "date"
    DATETIME = "datetime"
    LIST = "list"
    NULL = "null"
    ANY = "any"


NUMERIC = (TK.INT, TK.NUM, TK.MONEY)


@dataclass(frozen=True, slots=True)
class PType:
    kind: TK
    optional: bool = False
    item: PType | None = None
    currency: str | None = None
    values: frozenset[str] | None = None  # closed set of strings
    label: str | None = None  # what the closed set is, for messages ("connector", "weekday")

    def show(self) -> str:
        if self.kind is TK.MONEY:
            base = f"money ({self.currency})"
        elif self.kind is TK.LIST:
            base = f"list of {self.item.show() if self.item else 'any'}"
        elif self.kind is TK.STR and self.label:
            base = f"{self.label} name" if self.label in ("connector", "schema", "playbook", "agent", "route") \
                else self.label
        else:
            base = self.kind.value
        return base + (" (may be null)" if self.optional and self.kind is not TK.NULL else "")

    def required(self) -> PType:
        """The same type, known not to be null."""
        if not self.optional:
            return self
        return PType(self.kind, False, self.item, self.currency, self.values, self.label)

    def nullable(self) -> PType:
        if self.optional:
            return self
        return PType(self.kind, True, self.item, self.currency, self.values, self.label)

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    @property
    def family(self) -> str:
        if self.kind in NUMERIC:
            return "number"
        return self.kind.value


BOOL = PType(TK.BOOL)
INT = PType(TK.INT)
NUM = PType(TK.NUM)
STR = PType(TK.STR)
DURATION = PType(TK.DURATION)
DATE = PType(TK.DATE)
DATETIME = PType(TK.DATETIME)
NULL = PType(TK.NULL, optional=True)
ANY = PType(TK.ANY, optional=True)


def money(currency: str) -> PType:
    return PType(TK.MONEY, currency=currency)


def str_of(values: tuple[str, ...] | frozenset[str], label: str, optional: bool = False) -> PType:
    return PType(TK.STR, optional, values=frozenset(values), label=label)


def list_of(item: PType) -> PType:
    return PType(TK.LIST, item=item)


def _from_type(t: FieldType, name: str) -> PType:
    k = t.kind
    if k in (TypeKind.INT, TypeKind.DECIMAL):
        currency = currency_of_field(name)
        if currency:
            return money(currency)
        return INT if k is TypeKind.INT else NUM
    if k in (TypeKind.STR, TypeKind.EMAIL, TypeKind.URL, TypeKind.REF):
        return STR
    if k is TypeKind.BOOL:
        return BOOL
    if k is TypeKind.DATE:
        return DATE
    if k is TypeKind.DATETIME:
        return DATETIME
    if k is TypeKind.ENUM:
        return str_of(t.values, "enum")
    if k is TypeKind.LIST:
        return list_of(_from_type(t.items, name) if t.items else ANY)
    return ANY


def from_field(f: FieldDef) -> PType:
    """A contract or schema field as a rule sees it. Fields that may be absent are nullable; a field
    with a default reads as that default when absent, so it is not."""
    base = _from_type(f.type, f.name)
    if f.type.optional or (not f.required and f.default is None):
        return base.nullable()
    return base
