"""Record types from field specs: schemas, connector inputs and outputs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from aios.check.context import CheckContext
from aios.load.nodes import Path, SpanIndex
from aios.plan.types import FieldDef, FieldType, RecordType, TypeExprError, TypeKind, parse_type_expr
from aios.spec.base import FieldSpec

__all__ = ["build_record_type", "value_fits", "IMPLICIT_FIELDS"]

_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://\S+$")
IMPLICIT_FIELDS = ("id",)


def value_fits(ft: FieldType, value: Any) -> bool:
    """Does a literal (a default, a constant) fit the type?"""
    if value is None:
        return ft.optional
    k = ft.kind
    if k is TypeKind.ANY or k is TypeKind.OBJECT:
        return True
    if k is TypeKind.STR or k is TypeKind.REF:
        return isinstance(value, str)
    if k is TypeKind.INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if k is TypeKind.DECIMAL:
        if isinstance(value, bool):
            return False
        if isinstance(value, (int, float)):
            return True
        try:
            Decimal(str(value))
            return True
        except InvalidOperation:
            return False
    if k is TypeKind.BOOL:
        return isinstance(value, bool)
    if k is TypeKind.DATE:
        try:
            dt.date.fromisoformat(str(value))
            return isinstance(value, str)
        except ValueError:
            return False
    if k is TypeKind.DATETIME:
        try:
            dt.datetime.fromisoformat(str(value))
            return isinstance(value, str)
        except ValueError:
            return False
    if k is TypeKind.EMAIL:
        return isinstance(value, str) and bool(_EMAIL.match(value))
    if k is TypeKind.URL:
        return isinstance(value, str) and bool(_URL.match(value))
    if k is TypeKind.ENUM:
        return value in ft.values
    if k is TypeKind.LIST:
        return isinstance(value, list) and all(ft.items is None or value_fits(ft.items, v) for v in value)
    return False


def _refs(ft: FieldType) -> list[str]:
    if ft.kind is TypeKind.REF and ft.ref:
        return [ft.ref]
    if ft.kind is TypeKind.LIST and ft.items is not None:
        return _refs(ft.items)
    return []


def build_record_type(ctx: CheckContext, name: str, fields: Mapping[str, FieldSpec | str], spans: SpanIndex,
                      prefix: Path, schema_names: Collection[str]) -> RecordType:
    defs: list[FieldDef] = []
    for fname, spec in fields.items():
        fpath = (*prefix, fname)
        key_span = spans.key(fpath)
        if not _FIELD_NAME.match(fname):
            ctx.sink.report("invalid-name", f"field name `{fname}` must be lowercase letters, digits and `_`",
                            key_span)
            continue
        if fname in IMPLICIT_FIELDS and prefix[:1] == ("fields",):
            ctx.sink.report("invalid-name", f"`{fname}` is set by aios on every record and cannot be declared",
                            key_span, hint="remove it; use `key:` to name a natural key field instead")
            continue
        if isinstance(spec, str):
            type_text, required, default, desc, tpath = spec, True, None, None, fpath
        else:
            type_text, required, default, desc = spec.type, spec.required, spec.default, spec.description
            tpath = (*fpath, "type")
        tspan = spans.value(tpath)
        try:
            ft = parse_type_expr(type_text.strip())
        except TypeExprError as err:
            ctx.sink.report("invalid-type", f"bad type `{type_text}`: {err}", ctx.locate(tspan, type_text),
                            hint="types: str int decimal bool date datetime email url any, enum[a, b], "
                                 "list[T], optional[T] or T?, ref[Schema]")
            continue
        if not required:
            ft = ft.with_optional(True)
        required = required and not ft.optional
        for target in _refs(ft):
            if target not in schema_names:
                ctx.unknown("unknown-schema", "schema", target, schema_names, ctx.locate(tspan, target),
                            kind="schema")
        if default is not None and not value_fits(ft, default):
            ctx.sink.report("schema-default", f"default {default!r} of `{fname}` is not a valid {ft.show()}",
                            spans.value((*fpath, "default")))
        defs.append(FieldDef(fname, ft, required, default, desc, key_span))
    return RecordType(name, tuple(defs), spans.root)
