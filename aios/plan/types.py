"""Value types of canonical records and connector payloads, shared by the compiler, the policy
checker, the interpreter and the model adapter."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from aios.span import Span

__all__ = ["TypeKind", "FieldType", "FieldDef", "RecordType", "ANY", "STR", "parse_type_expr", "TypeExprError"]


class TypeKind(enum.Enum):
    STR = "str"
    INT = "int"
    DECIMAL = "decimal"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    EMAIL = "email"
    URL = "url"
    ENUM = "enum"
    LIST = "list"
    REF = "ref"
    ANY = "any"
    OBJECT = "object"


SCALAR_KINDS = {k.value: k for k in TypeKind if k not in (TypeKind.ENUM, TypeKind.LIST, TypeKind.REF,
                                                            TypeKind.OBJECT)}


@dataclass(frozen=True, slots=True)
class FieldType:
    kind: TypeKind
    optional: bool = False
    items: FieldType | None = None
    ref: str | None = None
    values: tuple[str, ...] = ()

    def show(self) -> str:
        if self.kind is TypeKind.ENUM:
            base = f"enum[{', '.join(self.values)}]"
        elif self.kind is TypeKind.LIST:
            base = f"list[{self.items.show() if self.items else 'any'}]"
        elif self.kind is TypeKind.REF:
            base = f"ref[{self.ref}]"
        else:
            base = self.kind.value
        return base + ("?" if self.optional else "")

    def with_optional(self, optional: bool) -> FieldType:
        return FieldType(self.kind, optional, self.items, self.ref, self.values)

    def to_json_schema(self) -> dict[str, Any]:
        k = self.kind
        out: dict[str, Any]
        if k is TypeKind.STR or k is TypeKind.REF:
            out = {"type": "string"}
        elif k is TypeKind.INT:
            out = {"type": "integer"}
        elif k is TypeKind.DECIMAL:
            out = {"type": ["number", "string"]}
        elif k is TypeKind.BOOL:
            out = {"type": "boolean"}
        elif k is TypeKind.DATE:
            out = {"type": "string", "format": "date"}
        elif k is TypeKind.DATETIME:
            out = {"type": "string", "format": "date-time"}
        elif k is TypeKind.EMAIL:
            out = {"type": "string", "format": "email"}
        elif k is TypeKind.URL:
            out = {"type": "string", "format": "uri"}
        elif k is TypeKind.ENUM:
            out = {"type": "string", "enum": list(self.values)}
        elif k is TypeKind.LIST:
            out = {"type": "array", "items": self.items.to_json_schema() if self.items else {}}
        elif k is TypeKind.OBJECT:
            out = {"type": "object"}
        else:
            out = {}
        if self.optional and "type" in out:
            t = out["type"]
            out["type"] = [*t, "null"] if isinstance(t, list) else [t, "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out


ANY = FieldType(TypeKind.ANY)
STR = FieldType(TypeKind.STR)


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    type: FieldType
    required: bool
    default: Any = None
    description: str | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RecordType:
    """A named record shape: a canonical schema, or a connector's input/output."""

    name: str
    fields: tuple[FieldDef, ...]
    span: Span | None = field(default=None, compare=False, repr=False)

    def field(self, name: str) -> FieldDef | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def to_json_schema(self) -> dict[str, Any]:
        props = {}
        for f in self.fields:
            schema = f.type.to_json_schema()
            if f.description:
                schema["description"] = f.description
            props[f.name] = schema
        return {
            "type": "object",
            "title": self.name,
            "properties": props,
            "required": [f.name for f in self.fields if f.required and f.default is None],
            "additionalProperties": False,
        }


class TypeExprError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def parse_type_expr(text: str) -> FieldType:
    """Parse ``str``, ``int?``, ``list[str]``, ``optional[date]``, ``enum[a, b]``, ``ref[Customer]``."""
    parser = _TypeParser(text)
    result = parser.parse()
    parser.skip_ws()
    if parser.pos != len(text):
        raise TypeExprError(f"unexpected `{text[parser.pos:]}` after the type", parser.pos)
    return result


class _TypeParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def word(self) -> str:
        self.skip_ws()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "_-."):
            self.pos += 1
        if start == self.pos:
            raise TypeExprError("expected a type name", start)
        return self.text[start:self.pos]

    def expect(self, ch: str) -> None:
        self.skip_ws()
        if self.pos >= len(self.text) or self.text[self.pos] != ch:
            got = self.text[self.pos] if self.pos < len(self.text) else "end of text"
            raise TypeExprError(f"expected `{ch}`, got `{got}`", self.pos)
        self.pos += 1

    def peek(self, ch: str) -> bool:
        self.skip_ws()
        return self.pos < len(self.text) and self.text[self.pos] == ch

    def parse(self) -> FieldType:
        start = self.pos
        name = self.word()
        if name in SCALAR_KINDS:
            t = FieldType(SCALAR_KINDS[name])
        elif name == "list":
            self.expect("[")
            inner = self.parse()
            self.expect("]")
            t = FieldType(TypeKind.LIST, items=inner)
        elif name == "optional":
            self.expect("[")
            inner = self.parse()
            self.expect("]")
            t = inner.with_optional(True)
        elif name == "ref":
            self.expect("[")
            ref_start = self.pos
            target = self.word()
            if not target[:1].isupper():
                raise TypeExprError("a reference names a schema in CamelCase", ref_start)
            self.expect("]")
            t = FieldType(TypeKind.REF, ref=target)
        elif name == "enum":
            self.expect("[")
            values = [self.word()]
            while self.peek(","):
                self.pos += 1
                values.append(self.word())
            self.expect("]")
            if len(set(values)) != len(values):
                raise TypeExprError("enum values must be distinct", start)
            t = FieldType(TypeKind.ENUM, values=tuple(values))
        else:
            import difflib

            options = [*SCALAR_KINDS, "list", "optional", "ref", "enum"]
            close = difflib.get_close_matches(name, options, n=1)
            extra = f"; did you mean `{close[0]}`?" if close else ""
            raise TypeExprError(f"unknown type `{name}`{extra}", start)
        if self.peek("?"):
            self.pos += 1
            t = t.with_optional(True)
        return t
