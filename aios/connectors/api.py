"""The Python API for connectors: a typed ``execute(input, ctx)``, with optional ``preview`` and
``reconcile``, wrapped into the plain ``ConnectorCall -> output`` callable the interpreter calls.

A workspace connector (``connectors/social.py``, contract ``module: social:schedule``)::

    from pydantic import BaseModel
    from aios.connectors import Context, Preview, Reconciliation, connector

    class ScheduleInput(BaseModel):
        url: str
        text: str
        channels: list[str]

    class ScheduleOutput(BaseModel):
        post_id: str
        scheduled_for: datetime

    @connector
    def schedule(input: ScheduleInput, ctx: Context) -> ScheduleOutput:
        ...  # ctx.idempotency_key, ctx.provenance, ctx.settings, ctx.secret("name")

    @schedule.preview
    def _(input: ScheduleInput, ctx: Context) -> Preview: ...

Input and output types are read from the annotations (pydantic models, dataclasses, or ``dict`` for
untyped); the compiler checks them against the contract's ``input:``/``output:`` fields.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel, TypeAdapter, ValidationError

from aios.masking import MIN_SECRET, masker_for
from aios.runtime.connectors import ConnectorCall, ConnectorFailed, is_transient

__all__ = ["Context", "Preview", "Outcome", "Reconciliation", "ConnectorImpl", "connector", "as_impl",
           "is_untyped", "mask_secrets"]

#: What ``execute``, ``preview`` and ``reconcile`` receive besides the input: the idempotency key,
#: the provenance (run, step, plan hash, attempt), this connector's settings from aios.yaml, the
#: workspace and storage folders, and ``secret(name)`` for secrets named in aios.yaml.
Context = ConnectorCall

InT = TypeVar("InT")
OutT = TypeVar("OutT")


@dataclass(frozen=True, slots=True)
class Preview:
    """What a call would do, without doing it: where it would go, and what would be sent."""

    target: str  # where: "POST https://api.example/orders", "smtp://mail:587 → ada@example.com"
    summary: str  # one line: "would create outbox/a.md (12 bytes)"
    payload: Mapping[str, Any] = field(default_factory=dict)  # what would be sent; secrets masked
    output: Mapping[str, Any] | None = None  # the output a real call would give, when it is predictable

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "summary": self.summary, "payload": dict(self.payload)}
        if self.output is not None:
            out["output"] = dict(self.output)
        return out


class Outcome(enum.Enum):
    HAPPENED = "happened"
    NOT_HAPPENED = "not_happened"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The target's answer to "did the effect with this idempotency key happen?"."""

    outcome: Outcome
    output: Mapping[str, Any] | None = None  # the call's output, when it happened and the target can tell
    detail: str = ""

    @classmethod
    def happened(cls, output: Mapping[str, Any] | None = None, detail: str = "") -> Reconciliation:
        return cls(Outcome.HAPPENED, output, detail)

    @classmethod
    def not_happened(cls, detail: str = "") -> Reconciliation:
        return cls(Outcome.NOT_HAPPENED, None, detail)

    @classmethod
    def unknown(cls, detail: str = "") -> Reconciliation:
        return cls(Outcome.UNKNOWN, None, detail)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"outcome": self.outcome.value, "detail": self.detail}
        if self.output is not None:
            out["out"] = dict(self.output)
        return out


_UNTYPED: tuple[Any, ...] = (None, Any, dict, Mapping, typing.Mapping, dict, inspect.Parameter.empty)


def is_untyped(tp: Any) -> bool:
    """``dict``, ``Mapping[str, Any]``, ``Any`` or no annotation: the raw JSON object is passed."""
    return tp in _UNTYPED or typing.get_origin(tp) in (dict, Mapping)


class ConnectorImpl(Generic[InT, OutT]):
    """A connector implementation. Calling it with a `ConnectorCall` runs ``execute`` on the parsed
    input and returns the output as a JSON object (the interpreter's ``ConnectorFn`` protocol)."""

    def __init__(self, execute: Callable[[InT, ConnectorCall], OutT | Mapping[str, Any]], *,
                 input_type: Any = None, output_type: Any = None, name: str | None = None) -> None:
        self.execute = execute
        self.input_type = None if is_untyped(input_type) else input_type
        self.output_type = None if is_untyped(output_type) else output_type
        self.name = name or getattr(execute, "__name__", "connector")
        self._preview: Callable[[InT, ConnectorCall], Preview] | None = None
        self._reconcile: Callable[[InT, ConnectorCall], Reconciliation] | None = None
        self._in_adapter = TypeAdapter(self.input_type) if self.input_type is not None else None
        self._out_adapter = TypeAdapter(self.output_type) if self.output_type is not None else None
        self.__doc__ = execute.__doc__
        self.__wrapped__ = execute

    def __repr__(self) -> str:
        return f"<connector {self.name}>"

    # -- registration (decorators) ---------------------------------------------------------------

    def preview(self, fn: Callable[[InT, ConnectorCall], Preview]) -> Callable[[InT, ConnectorCall], Preview]:
        """Register the preview: what a call would do, without side effects (``aios run --dry-run``)."""
        self._preview = fn
        return fn

    def reconcile(self, fn: Callable[[InT, ConnectorCall], Reconciliation],
                  ) -> Callable[[InT, ConnectorCall], Reconciliation]:
        """Register the reconciliation: ask the target whether the effect with this key happened."""
        self._reconcile = fn
        return fn

    @property
    def can_preview(self) -> bool:
        return self._preview is not None

    @property
    def can_reconcile(self) -> bool:
        return self._reconcile is not None

    # -- calling ---------------------------------------------------------------------------------

    def __call__(self, call: ConnectorCall) -> dict[str, Any]:
        """Run ``execute``. Secret values the connector asked for are masked (in every form that
        ``aios.masking`` knows) in what it returns and in its error messages, so a target that echoes a
        token back cannot put it into the log. The state store masks every declared secret again, for
        connectors in the one-argument form too."""
        handed: list[str] = []

        def secret(name: str) -> str | None:
            value = call.secret(name)
            if value and len(value) >= MIN_SECRET:
                handed.append(value)
            return value

        watched = dataclasses.replace(call, secret=secret)
        try:
            out = self.dump_output(self.execute(self.parse_input(watched), watched))
        except ConnectorFailed as err:
            if handed and _mask(str(err), handed) != str(err):  # escaped, encoded and partial copies too
                raise ConnectorFailed(_mask(str(err), handed), transient=err.transient) from None
            raise
        except Exception as err:
            text = f"{type(err).__name__}: {err}"
            if handed and _mask(text, handed) != text:  # as transient as the interpreter would judge it
                raise ConnectorFailed(_mask(text, handed), transient=is_transient(err)) from None
            raise
        return mask_secrets(out, handed) if handed else out

    def run_preview(self, call: ConnectorCall) -> Preview | None:
        if self._preview is None:
            return None
        result = self._preview(self.parse_input(call), call)
        if not isinstance(result, Preview):
            raise ConnectorFailed(f"the preview of `{call.connector}` returned {type(result).__name__}, "
                                  "not a Preview", transient=False)
        return result

    def run_reconcile(self, call: ConnectorCall) -> Reconciliation | None:
        if self._reconcile is None:
            return None
        result = self._reconcile(self.parse_input(call), call)
        if not isinstance(result, Reconciliation):
            raise ConnectorFailed(f"the reconciliation of `{call.connector}` returned {type(result).__name__}, "
                                  "not a Reconciliation", transient=False)
        if result.output is not None:
            result = dataclasses.replace(result, output=self.dump_output(result.output))
        return result

    def parse_input(self, call: ConnectorCall) -> Any:
        data = dict(call.input)
        if self._in_adapter is None:
            return data
        try:
            return self._in_adapter.validate_python(data)
        except ValidationError as err:
            raise ConnectorFailed(f"the input of `{call.connector}` does not match {_type_name(self.input_type)}: "
                                  f"{_errors(err)}", transient=False) from err

    def dump_output(self, out: Any) -> dict[str, Any]:
        if self._out_adapter is not None:
            try:
                value = self._out_adapter.validate_python(out) if isinstance(out, Mapping) else out
                dumped = self._out_adapter.dump_python(value, mode="json")
            except (ValidationError, TypeError, ValueError) as err:
                detail = _errors(err) if isinstance(err, ValidationError) else str(err)
                raise ConnectorFailed(f"`{self.name}` returned an output that does not match {_type_name(self.output_type)}: "
                                      f"{detail}", transient=False) from err
            if isinstance(dumped, dict):
                return dumped
            raise ConnectorFailed(f"`{self.name}` output {_type_name(self.output_type)} is not an object",
                                  transient=False)
        if isinstance(out, BaseModel):
            return out.model_dump(mode="json")
        if dataclasses.is_dataclass(out) and not isinstance(out, type):
            dumped = TypeAdapter(type(out)).dump_python(out, mode="json")
            return dict(dumped)
        if isinstance(out, Mapping):
            return dict(out)
        raise ConnectorFailed(f"`{self.name}` returned {type(out).__name__}; a connector returns a mapping or its "
                              "output model", transient=False)


def _mask(text: str, secrets: list[str]) -> str:
    return masker_for(tuple(sorted(set(secrets)))).mask(text) if secrets else text


def mask_secrets(value: Any, secrets: list[str]) -> Any:
    """``value`` (a string or JSON data) with every secret value replaced by ``***``: raw, escaped,
    encoded and partial copies alike (the rule of ``aios.masking``, which this delegates to)."""
    if not secrets:
        return value
    return masker_for(tuple(sorted(set(secrets)))).mask_value(value)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", repr(tp))


def _errors(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in e.get("loc", ())) or "input"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def _hints(fn: Callable[..., Any]) -> tuple[Any, Any]:
    """(input type, output type) from ``def fn(input: In, ctx: Context) -> Out``."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as err:  # an annotation names something not importable at run time
        raise TypeError(f"connector `{getattr(fn, '__name__', fn)}`: cannot read its type annotations ({err}); "
                        "pass input= and output= to @connector") from err
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(params) != 2:
        raise TypeError(f"connector `{getattr(fn, '__name__', fn)}` must take (input, ctx); it takes "
                        f"{len(params)} positional parameter(s)")
    return hints.get(params[0].name), hints.get("return")


@overload
def connector(fn: Callable[[Any, ConnectorCall], Any], /) -> ConnectorImpl[Any, Any]: ...


@overload
def connector(*, input: Any = None, output: Any = None, name: str | None = None,
              ) -> Callable[[Callable[[Any, ConnectorCall], Any]], ConnectorImpl[Any, Any]]: ...


def connector(fn: Callable[[Any, ConnectorCall], Any] | None = None, /, *, input: Any = None, output: Any = None,
              name: str | None = None) -> Any:
    """Make ``execute(input, ctx)`` a connector. Types come from the annotations unless given."""

    def wrap(f: Callable[[Any, ConnectorCall], Any]) -> ConnectorImpl[Any, Any]:
        if input is None or output is None:
            hin, hout = _hints(f)
        else:
            hin = hout = None
        return ConnectorImpl(f, input_type=input if input is not None else hin,
                             output_type=output if output is not None else hout, name=name)

    return wrap(fn) if fn is not None else wrap


def as_impl(obj: Any) -> ConnectorImpl[Any, Any] | Callable[[ConnectorCall], Mapping[str, Any]]:
    """What a workspace module exports, made callable by the interpreter: a `ConnectorImpl` as is,
    ``def f(input, ctx)`` wrapped as one, ``def f(call)`` (the raw protocol) as is."""
    if isinstance(obj, ConnectorImpl):
        return obj
    if inspect.isfunction(obj):
        params = [p for p in inspect.signature(obj).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
        if len(params) == 2:
            return connector(obj)
    if callable(obj):
        return typing.cast(Callable[[ConnectorCall], Mapping[str, Any]], obj)
    raise TypeError(f"{obj!r} is not callable")
