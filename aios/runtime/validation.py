"""Check a JSON value against a `RecordType` (canonical schemas, connector inputs, model output).

Returns messages rather than raising, so the model adapter can send them back to the model and the
interpreter can log them. Defaults are filled in first; unknown fields are errors for records and
model output (``extra="forbid"``) and are kept for connector output (``extra="keep"``).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from aios import limits
from aios.plan.types import FieldType, RecordType, TypeKind

__all__ = ["validate_record", "check_value", "normalise"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite_decimal(value: Any) -> bool:
    """An int, a finite float, or text of a finite decimal within a float's range (so ``"NaN"``,
    ``"Infinity"`` and ``"1e999"`` are not decimals: a rule comparing them would learn nothing)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (str, Decimal)):
        try:
            d = value if isinstance(value, Decimal) else Decimal(value)
        except InvalidOperation:
            return False
        return d.is_finite() and math.isfinite(float(d))
    return False


def _untyped(value: Any, where: str) -> list[str]:
    """An ``any`` or ``object`` value holds JSON data within the limits (finite numbers, text)."""
    if isinstance(value, (str, bool, int)) or value is None:
        return []
    try:
        limits.check_value(value, what=where)
    except limits.PayloadError as err:
        return [str(err)]
    return []


def check_value(t: FieldType, value: Any, where: str) -> list[str]:
    """Messages for ``value`` not matching ``t`` (empty when it matches)."""
    if value is None:
        return [] if t.optional or t.kind is TypeKind.ANY else [f"{where}: expected {t.show()}, got null"]
    k = t.kind
    ok = True
    if k is TypeKind.ANY:
        return _untyped(value, where)
    if k in (TypeKind.STR, TypeKind.REF):
        ok = isinstance(value, str)
    elif k is TypeKind.INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif k is TypeKind.DECIMAL:
        if not _finite_decimal(value):
            return [f"{where}: expected a finite decimal, got {_show(value)}"]
    elif k is TypeKind.BOOL:
        ok = isinstance(value, bool)
    elif k is TypeKind.DATE:
        ok = isinstance(value, str) and _parses(date.fromisoformat, value)
    elif k is TypeKind.DATETIME:
        ok = isinstance(value, str) and _parses(_parse_datetime, value)
    elif k is TypeKind.EMAIL:
        ok = isinstance(value, str) and bool(_EMAIL.match(value))
    elif k is TypeKind.URL:
        ok = isinstance(value, str) and bool(_URL.match(value))
    elif k is TypeKind.ENUM:
        if not (isinstance(value, str) and value in t.values):
            return [f"{where}: expected one of {', '.join(t.values)}, got {_show(value)}"]
        return []
    elif k is TypeKind.LIST:
        if not isinstance(value, list):
            return [f"{where}: expected {t.show()}, got {_show(value)}"]
        if t.items is None:
            return []
        errors: list[str] = []
        for i, item in enumerate(value):
            errors.extend(check_value(t.items, item, f"{where}[{i}]"))
        return errors
    elif k is TypeKind.OBJECT:
        if not isinstance(value, dict):
            return [f"{where}: expected {t.show()}, got {_show(value)}"]
        return _untyped(value, where)
    return [] if ok else [f"{where}: expected {t.show()}, got {_show(value)}"]


def _parse_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _parses(fn: Any, text: str) -> bool:
    try:
        fn(text)
    except ValueError:
        return False
    return True


def normalise(rt: RecordType, value: dict[str, Any]) -> dict[str, Any]:
    """Fill in declared defaults for absent fields (a copy; the input is not changed)."""
    out = dict(value)
    for f in rt.fields:
        if f.name not in out and f.default is not None:
            out[f.name] = f.default
    return out


def validate_record(rt: RecordType, value: Any, *, extra: Literal["forbid", "keep"] = "forbid",
                    ) -> tuple[dict[str, Any], list[str]]:
    """Return the normalised value and the list of problems (empty when valid)."""
    if not isinstance(value, dict):
        return {}, [f"{rt.name}: expected an object, got {_show(value)}"]
    data = normalise(rt, value)
    errors: list[str] = []
    for f in rt.fields:
        if f.name not in data:
            if f.required and not f.type.optional:
                errors.append(f"field `{f.name}` is required ({f.type.show()})")
            continue
        errors.extend(check_value(f.type, data[f.name], f"field `{f.name}`"))
    if extra == "forbid":
        known = set(rt.field_names())
        for name in data:
            if name not in known:
                errors.append(f"field `{name}` is not in {rt.name} (expected: {', '.join(rt.field_names())})")
    return data, errors
