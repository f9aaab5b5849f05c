"""The checked, typed form of a rule condition: what the checker produces and the code generator reads.

Every node is plain data; all names are resolved, all coercions explicit, all literals decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Const", "Ctx", "GetAttr", "Item", "Coerce", "Dyn", "Part", "Unary", "Binary", "BoolOp", "Contains",
    "ListLit", "Call", "Regex", "Clause", "IR", "CTX",
]


@dataclass(frozen=True, slots=True)
class Const:
    value: object


@dataclass(frozen=True, slots=True)
class Ctx:
    """The decision context itself (the rule function's argument)."""


CTX = Ctx()


@dataclass(frozen=True, slots=True)
class GetAttr:
    base: IR
    name: str


@dataclass(frozen=True, slots=True)
class Item:
    """``base[key]`` (required), ``base.get(key)`` (optional) or ``base.get(key, default)``."""

    base: IR
    key: str
    mode: str  # "required" | "optional" | "default"
    default: object = None


@dataclass(frozen=True, slots=True)
class Coerce:
    """Bring a stored value to its declared type: ``num``, ``date`` or ``datetime``."""

    to: str
    arg: IR
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Dyn:
    """A field of an untyped (``any``/``object``) value, looked up at run time."""

    base: IR
    key: str


@dataclass(frozen=True, slots=True)
class Part:
    """A part of a date, date-time or duration: ``weekday``, ``hour``, ``date``, ``days`` …"""

    base: IR
    part: str


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" | "not"
    operand: IR


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # Python operator text: + - * / % == != < <= > >=
    left: IR
    right: IR


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "and" | "or"
    left: IR
    right: IR


@dataclass(frozen=True, slots=True)
class Contains:
    item: IR
    container: IR
    negated: bool


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[IR, ...]


@dataclass(frozen=True, slots=True)
class Call:
    func: str  # name of a runtime helper in aios.policy.runtime.HELPERS
    args: tuple[IR, ...]


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: str
    arg: IR


@dataclass(frozen=True, slots=True)
class Clause:
    """An atomic condition clause; the coverage build records its value, the normal build ignores it."""

    index: int
    expr: IR


IR = (Const | Ctx | GetAttr | Item | Coerce | Dyn | Part | Unary | Binary | BoolOp | Contains | ListLit | Call | Regex
      | Clause)
