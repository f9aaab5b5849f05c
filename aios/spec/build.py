"""Build pydantic documents from YAML nodes; validation errors become positioned diagnostics.

Raw dicts stop here: what leaves this module is a `SpecDocument` (a frozen pydantic model plus the
span index of its source), so later stages can blame the exact key or value.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from aios.diagnostics import DiagnosticSink
from aios.load.nodes import Path, SpanIndex, YDocument, YMap, YScalar, index_spans, to_python
from aios.spec.agent import AgentDoc
from aios.spec.connector import ConnectorDoc
from aios.spec.flag import FlagDoc
from aios.spec.playbook import PlaybookDoc
from aios.spec.schema import SchemaDoc
from aios.spec.workspace import WorkspaceDoc

__all__ = ["SpecDocument", "KIND_MODELS", "build_document", "did_you_mean"]

KIND_MODELS: dict[str, type[BaseModel]] = {
    "workspace": WorkspaceDoc,
    "schema": SchemaDoc,
    "agent": AgentDoc,
    "playbook": PlaybookDoc,
    "connector": ConnectorDoc,
    "flag": FlagDoc,
}

_PATTERN_WORDS = {
    r"^[A-Za-z][A-Za-z0-9_-]*$": "a name: letters, digits, `_` and `-`, starting with a letter",
    r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$": "a dotted name such as `cms.publish`",
    r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$": "an event type such as `lead.received`",
    r"^[A-Z][A-Za-z0-9]*$": "a schema name in CamelCase, such as `Project`",
    r"^[a-z][a-z0-9_]*$": "a step id: lowercase letters, digits and `_`, starting with a letter",
    r"^[0-9]+(s|m|h|d)$": "a duration such as `30s`, `15m`, `2h` or `3d`",
    r"^(none|fixed|exponential)$": "one of `none`, `fixed`, `exponential`",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name such as `SMTP_PASSWORD`",
}


@dataclass(frozen=True)
class SpecDocument:
    kind: str
    model: BaseModel
    spans: SpanIndex
    source: YDocument

    @property
    def name(self) -> str:
        return str(getattr(self.model, "name", ""))


def did_you_mean(word: str, options: typing.Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, sorted(set(options)), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Follow a pydantic error location through annotations to the model that owns the last key."""
    tp: Any = model
    for el in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if origin in (Union, types.UnionType):
            args = [_unwrap(a) for a in typing.get_args(tp)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            named = [a for a in models if a.__name__ == el]
            if named:
                tp = named[0]
                continue
            if len(models) == 1:
                tp = models[0]
            else:
                containers = [a for a in args if typing.get_origin(a) in (list, dict)]
                if not containers:
                    return None
                tp = containers[0]
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if (f.alias or n) == el or n == el), None)
            if field is None:
                return None
            tp = field.annotation
        elif origin is list and isinstance(el, int):
            tp = typing.get_args(tp)[0]
        elif origin is dict and isinstance(el, str):
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (Union, types.UnionType):
        models = [a for a in map(_unwrap, typing.get_args(tp)) if isinstance(a, type) and issubclass(a, BaseModel)]
        tp = models[0] if len(models) == 1 else tp
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _field_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _clean_loc(loc: tuple[Any, ...], data: Any, etype: str) -> tuple[Path, str | None, list[tuple[str, Any]]]:
    """Split a pydantic location into the data path, a missing terminal key, and union tags
    (each with the value the union was choosing a branch for)."""
    path: list[str | int] = []
    tags: list[tuple[str, Any]] = []
    cur = data
    for i, el in enumerate(loc):
        found, child = _child(cur, el)
        if found:
            path.append(el)
            cur = child
        elif i == len(loc) - 1 and etype == "missing" and isinstance(el, str) and isinstance(cur, dict):
            return tuple(path), el, tags
        else:
            tags.append((str(el), cur))
    return tuple(path), None, tags


def _child(cur: Any, el: Any) -> tuple[bool, Any]:
    if isinstance(cur, dict) and isinstance(el, str) and el in cur:
        return True, cur[el]
    if isinstance(cur, list) and isinstance(el, int) and 0 <= el < len(cur):
        return True, cur[el]
    return False, None


def _value_at(data: Any, path: Path) -> Any:
    cur = data
    for el in path:
        cur = cur[el]
    return cur


_SCALAR_TAGS = ("str", "int", "float", "bool", "constrained-str", "function-after", "literal")


def _branch_fits(tags: list[tuple[str, Any]]) -> bool:
    """For union fields, keep only the errors of the branch that matches the value's shape."""
    return all(_tag_fits(tag, value) for tag, value in tags)


def _tag_fits(tag: str, value: Any) -> bool:
    is_model_tag = tag[:1].isupper() and not tag.startswith("function")
    if isinstance(value, dict):
        return is_model_tag or tag.startswith("dict")
    if isinstance(value, list):
        return tag.startswith("list")
    return not is_model_tag and not tag.startswith(("dict", "list"))


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 40 else text[:37] + "..."


def _report_validation(err: ValidationError, model: type[BaseModel], data: Any, spans: SpanIndex,
                       what: str, sink: DiagnosticSink) -> None:
    seen: set[tuple[Path, str | None, str]] = set()
    raw = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        path, missing, tags = _clean_loc(loc, data, e["type"])
        try:
            value = _value_at(data, path)
        except (KeyError, IndexError, TypeError):
            value = None
        raw.append((e, loc, path, missing, tags, value))
    fitting = [r for r in raw if _branch_fits(r[4])] or raw
    for e, loc, path, missing, _tags, value in fitting:
        etype = e["type"]
        key = (path, missing, etype)
        if key in seen:
            continue
        seen.add(key)
        label = ".".join(str(p) for p in path) or what
        if etype == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            bad = str(path[-1]) if path else str(loc[-1])
            hint = did_you_mean(bad, _field_keys(owner)) if owner else None
            if hint is None and owner is not None:
                hint = "allowed keys: " + ", ".join(f"`{k}`" for k in _field_keys(owner))
            parent = ".".join(str(p) for p in path[:-1])
            where = f" in `{parent}`" if parent else f" in {what}"
            sink.report("unknown-field", f"unknown key `{bad}`{where}", spans.key(path), hint=hint)
        elif etype == "missing":
            name = missing if missing is not None else str(loc[-1])
            parent = ".".join(str(p) for p in path)
            where = f"`{parent}`" if parent else what
            sink.report("missing-field", f"missing required key `{name}` in {where}", spans.key(path),
                        hint=None)
        elif etype == "string_pattern_mismatch":
            pattern = str((e.get("ctx") or {}).get("pattern", ""))
            words = _PATTERN_WORDS.get(pattern, f"a value matching `{pattern}`")
            code = "invalid-value" if "duration" in words or "one of" in words else "invalid-name"
            sink.report(code, f"`{label}` must be {words}, got {_short(value)}", spans.value(path))
        else:
            msg = str(e["msg"])
            if msg.startswith("Input should be "):
                msg = "expected " + msg[len("Input should be "):]
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            else:
                msg = msg[:1].lower() + msg[1:]
            sink.report("invalid-value", f"invalid value for `{label}`: {msg}, got {_short(value)}",
                        spans.value(path))


def build_document(doc: YDocument, sink: DiagnosticSink, *, default_kind: str | None = None,
                   allowed_kinds: typing.Collection[str] = ()) -> SpecDocument | None:
    """Validate one YAML document. Returns None (with diagnostics reported) when it does not fit."""
    root = doc.root
    if isinstance(root, YScalar) and root.value is None:
        sink.report("empty-document", "this YAML document is empty", doc.span)
        return None
    if not isinstance(root, YMap):
        sink.report("invalid-value", "a document must be a mapping of keys to values", root.span,
                    hint="start the document with `kind: …`")
        return None
    kind_node = root.get("kind")
    if kind_node is None:
        if default_kind is None:
            sink.report("missing-kind", "document has no `kind`", root.span,
                        hint="add `kind:` with one of " + ", ".join(f"`{k}`" for k in allowed_kinds))
            return None
        kind = default_kind
    else:
        kind = str(kind_node.value) if isinstance(kind_node, YScalar) else ""
        if kind not in allowed_kinds:
            hint = did_you_mean(kind, allowed_kinds) or ("expected one of " + ", ".join(
                f"`{k}`" for k in allowed_kinds))
            if kind in KIND_MODELS:
                hint = f"`{kind}` documents belong in " + (
                    "aios.yaml" if kind == "workspace" else "playbooks/ or connectors/")
            sink.report("unknown-kind", f"unknown document kind `{kind}`", kind_node.span, hint=hint)
            return None
    model_cls = KIND_MODELS[kind]
    data = to_python(root)
    spans = index_spans(root)
    try:
        model = model_cls.model_validate(data)
    except ValidationError as err:
        _report_validation(err, model_cls, data, spans, f"{kind} document", sink)
        return None
    return SpecDocument(kind, model, spans, doc)
