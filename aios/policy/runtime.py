"""Helpers the generated rule code calls at decision time. Each raises on a value of the wrong type,
which makes the rule's evaluation fail (and fail closed).

A non-finite number (NaN, infinity; as a float, a Decimal or text such as ``"NaN"``) is an error
wherever a rule meets it: every comparison with NaN is false, so without this ``deny when amount >
1000 EUR`` would let a NaN amount through. Numbers are checked where they enter an evaluation
(`to_num`, `checked` for untyped values, `dyn`) and where arithmetic makes them (`finite`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from aios.policy.ptypes import WEEKDAYS

__all__ = ["HELPERS", "NonFiniteNumber", "to_num", "to_date", "to_datetime", "finite", "checked"]

_isfinite = math.isfinite


class NonFiniteNumber(ArithmeticError):
    """A rule met NaN or an infinity: an evaluation error, so the rule fails closed."""

    def __init__(self, value: Any) -> None:
        super().__init__(f"{value!r} is not a finite number (NaN and infinities are evaluation errors)")


def _float(v: Any) -> float:
    """A Decimal or numeric text as a finite float (a Decimal too large for a float is infinite)."""
    try:
        d = v if isinstance(v, Decimal) else Decimal(v.strip())
    except InvalidOperation:
        raise TypeError(f"expected a number, got {v!r}") from None
    if not d.is_finite():
        raise NonFiniteNumber(v)
    f = float(d)
    if not _isfinite(f):
        raise NonFiniteNumber(v)
    return f


def to_num(v: Any) -> int | float:
    t = type(v)
    if t is int:
        return v  # type: ignore[no-any-return]
    if t is float:
        if _isfinite(v):
            return v  # type: ignore[no-any-return]
        raise NonFiniteNumber(v)
    if t is bool or v is None:
        raise TypeError(f"expected a number, got {v!r}")
    if isinstance(v, (Decimal, str)):
        return _float(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return to_num(float(v))
    raise TypeError(f"expected a number, got {type(v).__name__}")


def finite(v: Any) -> Any:
    """The result of rule arithmetic, refused when it left the finite numbers (overflow, inf - inf)."""
    if type(v) is float and not _isfinite(v):
        raise NonFiniteNumber(v)
    return v


def checked(v: Any) -> Any:
    """An untyped (``any``) value as read, refused when it is a non-finite number."""
    if isinstance(v, float):
        if not _isfinite(v):
            raise NonFiniteNumber(v)
    elif isinstance(v, Decimal) and not v.is_finite():
        raise NonFiniteNumber(v)
    return v


def to_num_opt(v: Any) -> int | float | None:
    return None if v is None else to_num(v)


def to_date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip()[:10])
        except ValueError:
            raise TypeError(f"expected a date, got {v!r}") from None
    raise TypeError(f"expected a date, got {type(v).__name__}")


def to_date_opt(v: Any) -> dt.date | None:
    return None if v is None else to_date(v)


def to_datetime(v: Any) -> dt.datetime:
    if isinstance(v, dt.datetime):
        result = v
    elif isinstance(v, str):
        try:
            result = dt.datetime.fromisoformat(v.strip())
        except ValueError:
            raise TypeError(f"expected a date-time, got {v!r}") from None
    else:
        raise TypeError(f"expected a date-time, got {type(v).__name__}")
    return result if result.tzinfo is not None else result.replace(tzinfo=dt.UTC)


def to_datetime_opt(v: Any) -> dt.datetime | None:
    return None if v is None else to_datetime(v)


def dyn(base: Any, key: str) -> Any:
    if isinstance(base, Mapping):
        return checked(base.get(key))
    raise TypeError(f"cannot read `{key}` of {type(base).__name__}")


def side_effect(action: Any, declared: Mapping[str, str]) -> str:
    """`action.side_effect`: the plan's contract first, then the context, unknown connectors irreversible."""
    if action.kind != "connector":
        return "none"
    return declared.get(action.connector or "") or action.side_effect or "irreversible"


def weekday(v: dt.date) -> str:
    return WEEKDAYS[v.weekday()]


def date_of(v: dt.datetime) -> dt.date:
    return v.date()


HELPERS: dict[str, Any] = {  # functions, and the WEEKDAYS table
    "num": to_num, "num_opt": to_num_opt, "date": to_date, "date_opt": to_date_opt,
    "datetime": to_datetime, "datetime_opt": to_datetime_opt, "dyn": dyn,
    "finite": finite, "checked": checked,
    "len": len,
    # str's own methods raise TypeError for anything but a str, and run without a Python frame
    "lower": str.lower,
    "upper": str.upper,
    "trim": str.strip,
    "starts_with": str.startswith,
    "ends_with": str.endswith,
    "abs": abs, "min": min, "max": max,
    "days": lambda n: dt.timedelta(days=n),
    "hours": lambda n: dt.timedelta(hours=n),
    "minutes": lambda n: dt.timedelta(minutes=n),
    "weekday": weekday,
    "WEEKDAYS": WEEKDAYS,
    "date_of": date_of,
    "side_effect": side_effect,
}
