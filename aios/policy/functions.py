"""Built-in functions of the rule DSL: their signatures (checked at compile time) and their lowering.

Each entry types its arguments and returns the IR for the call; the runtime helpers it names live in
`aios.policy.runtime`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aios.policy import ir
from aios.policy import ptypes as T
from aios.policy.ptypes import TK, PType

__all__ = ["Signature", "FUNCTIONS", "ArgError"]


class ArgError(Exception):
    """A call's arguments do not fit; ``index`` is the offending argument (None: the call itself)."""

    def __init__(self, message: str, index: int | None = None, code: str = "rule-type-mismatch") -> None:
        super().__init__(message)
        self.message = message
        self.index = index
        self.code = code


Lower = Callable[[Sequence[ir.IR], Sequence[PType], Sequence[object]], tuple[ir.IR, PType]]


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    min_args: int
    max_args: int
    doc: str
    lower: Lower


def _want(t: PType, kinds: tuple[TK, ...], index: int, what: str) -> None:
    if t.kind is TK.ANY:
        return
    if t.kind not in kinds:
        raise ArgError(f"expects {what}, got {t.show()}", index)


def _str1(helper: str) -> Lower:
    def lower(args: Sequence[ir.IR], types: Sequence[PType], lits: Sequence[object]) -> tuple[ir.IR, PType]:
        _want(types[0], (TK.STR,), 0, "a string")
        return ir.Call(helper, (args[0],)), T.STR
    return lower


def _len(args: Sequence[ir.IR], types: Sequence[PType], lits: Sequence[object]) -> tuple[ir.IR, PType]:
    _want(types[0], (TK.STR, TK.LIST), 0, "a string or a list")
    return ir.Call("len", (args[0],)), T.INT


def _str_pred(helper: str) -> Lower:
    def lower(args: Sequence[ir.IR], types: Sequence[PType], lits: Sequence[object]) -> tuple[ir.IR, PType]:
        _want(types[0], (TK.STR,), 0, "a string")
        _want(types[1], (TK.STR,), 1, "a string")
        return ir.Call(helper, (args[0], args[1])), T.BOOL
    return lower


def _contains(args: Sequence[ir.IR], types: Sequence[PType], lits: Sequence[object]) -> tuple[ir.IR, PType]:
    _want(types[0], (TK.STR, TK.LIST), 0, "a string or a list")
    if types[0].kind is TK.STR:
        _want(types[1], (TK.STR,), 1, "a string")
    return ir.Contains(args[1], args[0], False), T.BOOL


def _matches(args: Sequence[ir.IR], types: Sequence[PType], lits: Sequence[object]) -> tuple[ir.IR, PType]:
    _want(types[0], (TK.STR,), 0, "a string")
    pattern = lits[1]
    if not isinstance(pattern, str):
        raise ArgError("expects the pattern as a string literal (it is compiled once, with the policy)", 1)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ArgError(f"gets an invalid regular expression: {exc}", 1, "rule-invalid-regex") from None
    return ir.Regex(pattern, args[0]), T.BOOL


def _abs(args: Sequence[ir.IR], types: Sequence[PType], lits: Sequence[object]) -> tuple[ir.IR, PType]:
    _want(types[0], (TK.INT, TK.NUM, TK.MONEY, TK.DURATION), 0, "a number, an amount or a duration")
    return ir.Call("abs", (args[0],)), types[0].required()


def _minmax(helper: str) -> Lower:
    def lower(args: Sequence[ir.IR], types: Sequence[PType], lits: Sequence[object]) -> tuple[ir.IR, PType]:
        first = types[0]
        for i, t in enumerate(types):
            _want(t, (TK.INT, TK.NUM, TK.MONEY, TK.DURATION, TK.DATE, TK.DATETIME), i, "comparable values")
            if t.kind is TK.ANY or first.kind is TK.ANY:
                continue
            if t.family != first.family:
                raise ArgError(f"mixes {first.show()} and {t.show()}", i)
            if t.kind is TK.MONEY and first.kind is TK.MONEY and t.currency != first.currency:
                raise ArgError(f"mixes {first.currency} and {t.currency}", i, "rule-currency-mismatch")
        result = next((t for t in types if t.kind is TK.MONEY), None) or \
            (T.NUM if any(t.kind is TK.NUM for t in types) else first)
        return ir.Call(helper, tuple(args)), result.required()
    return lower


def _money(args: Sequence[ir.IR], types: Sequence[PType], lits: Sequence[object]) -> tuple[ir.IR, PType]:
    from aios.policy.currencies import CURRENCIES

    _want(types[0], (TK.INT, TK.NUM), 0, "a number")
    currency = lits[1]
    if not isinstance(currency, str) or currency not in CURRENCIES:
        raise ArgError('expects a currency code as a string literal, e.g. money(x, "EUR")', 1)
    return ir.Coerce("num", args[0]), T.money(currency)


def _duration(unit: str) -> Lower:
    def lower(args: Sequence[ir.IR], types: Sequence[PType], lits: Sequence[object]) -> tuple[ir.IR, PType]:
        _want(types[0], (TK.INT, TK.NUM), 0, "a number")
        return ir.Call(unit, (args[0],)), T.DURATION
    return lower


def _date(args: Sequence[ir.IR], types: Sequence[PType], lits: Sequence[object]) -> tuple[ir.IR, PType]:
    _want(types[0], (TK.DATETIME, TK.DATE, TK.STR), 0, "a date-time, a date or an ISO date string")
    if types[0].kind is TK.DATETIME:
        return ir.Part(args[0], "date"), T.DATE
    return ir.Coerce("date", args[0]), T.DATE


def _part(part: str, result: PType, kinds: tuple[TK, ...]) -> Lower:
    def lower(args: Sequence[ir.IR], types: Sequence[PType], lits: Sequence[object]) -> tuple[ir.IR, PType]:
        _want(types[0], kinds, 0, "a date-time" if kinds == (TK.DATETIME,) else "a date or a date-time")
        return ir.Part(args[0], part), result
    return lower


_WEEKDAY = T.str_of(T.WEEKDAYS, "weekday")

FUNCTIONS: dict[str, Signature] = {s.name: s for s in (
    Signature("len", 1, 1, "length of a string or a list", _len),
    Signature("lower", 1, 1, "the string in lower case", _str1("lower")),
    Signature("upper", 1, 1, "the string in upper case", _str1("upper")),
    Signature("trim", 1, 1, "the string without leading and trailing white space", _str1("trim")),
    Signature("matches", 2, 2, "whether a regular expression (a literal) matches anywhere in the string", _matches),
    Signature("starts_with", 2, 2, "whether the string starts with the prefix", _str_pred("starts_with")),
    Signature("ends_with", 2, 2, "whether the string ends with the suffix", _str_pred("ends_with")),
    Signature("contains", 2, 2, "whether a string holds a substring, or a list an item", _contains),
    Signature("abs", 1, 1, "absolute value of a number, amount or duration", _abs),
    Signature("min", 2, 8, "the smallest of its arguments", _minmax("min")),
    Signature("max", 2, 8, "the largest of its arguments", _minmax("max")),
    Signature("money", 2, 2, 'a number as an amount: money(x, "EUR")', _money),
    Signature("days", 1, 1, "a duration of n days", _duration("days")),
    Signature("hours", 1, 1, "a duration of n hours", _duration("hours")),
    Signature("minutes", 1, 1, "a duration of n minutes", _duration("minutes")),
    Signature("date", 1, 1, "the calendar date of a date-time (or an ISO date string)", _date),
    Signature("weekday", 1, 1, "mon … sun", _part("weekday", _WEEKDAY, (TK.DATE, TK.DATETIME))),
    Signature("hour", 1, 1, "the hour (0-23) of a date-time", _part("hour", T.INT, (TK.DATETIME,))),
)}
