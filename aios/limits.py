"""Limits on what aios accepts from outside, and the one reader of untrusted JSON.

Every boundary that takes data from a user or a sender (event files, ``aios emit`` payloads, webhook
bodies, decision contexts, connector results) reads it through `read_json` or checks an already-built
value with `check_value`. Both refuse, with a `PayloadError` that names what was expected:

- text that is not UTF-8 (UTF-16 and other encodings included) or holds a lone surrogate;
- ``NaN``, ``Infinity`` and ``-Infinity`` (bare or as numbers that overflow a float), which compare
  false with everything and would slip past a ``deny when x > limit`` rule;
- integers longer than `MAX_INT_DIGITS` digits;
- nesting deeper than `MAX_PAYLOAD_DEPTH` and bodies larger than `MAX_PAYLOAD_BYTES`.

The numbers are documented settings (docs/runtime.md, "Limits"); they are module constants so that
every process of a workspace applies the same ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from aios.errors import AiosError

__all__ = ["PayloadError", "read_json", "check_value", "MAX_PAYLOAD_DEPTH", "MAX_PAYLOAD_BYTES",
           "MAX_INT_DIGITS", "MAX_YAML_DEPTH", "MAX_YAML_ALIASES", "MAX_YAML_BYTES", "MAX_DURATION_DAYS"]

MAX_PAYLOAD_DEPTH = 64
"""Deepest nesting of lists and objects in an event payload or any JSON input."""
MAX_PAYLOAD_BYTES = 1024 * 1024
"""Largest event payload or JSON input, in bytes of UTF-8."""
MAX_INT_DIGITS = 100
"""Longest integer literal in JSON input or a rule (digits)."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of collections in a workspace YAML file."""
MAX_YAML_ALIASES = 10_000
"""Most nodes that alias references in one YAML file may expand to (stops alias bombs)."""
MAX_YAML_BYTES = 2 * 1024 * 1024
"""Largest workspace YAML file, in bytes."""
MAX_DURATION_DAYS = 36_500
"""Longest duration literal (a timeout, a window): a hundred years."""


class PayloadError(AiosError):
    """Input data was refused; ``code`` is stable (`payload-*`), the message says what was expected."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _refuse_constant(name: str) -> Any:
    raise PayloadError("payload-non-finite", f"`{name}` is not a number aios accepts (numbers must be finite)")


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise PayloadError("payload-number-too-long",
                           f"an integer of {digits} digits is longer than the limit of {MAX_INT_DIGITS}")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise PayloadError("payload-non-finite", f"the number {text[:40]} is out of range (numbers must be finite)")
    return value


def _nesting(text: str) -> int:
    """The deepest bracket nesting of JSON ``text`` outside strings, found without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_PAYLOAD_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def read_json(data: bytes | str, *, what: str = "the payload") -> Any:
    """Parse untrusted JSON within the limits; a `PayloadError` says what is wrong and where."""
    if isinstance(data, bytes):
        if len(data) > MAX_PAYLOAD_BYTES:
            raise PayloadError("payload-too-large",
                               f"{what} is {len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes")
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            hint = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4] else ""
            raise PayloadError("payload-not-utf8",
                               f"{what} is not UTF-8{hint}: byte {err.start} cannot be decoded") from None
    else:
        text = data[1:] if data.startswith("\ufeff") else data
        if len(text) > MAX_PAYLOAD_BYTES:  # characters: a cheap first bound before encoding
            raise PayloadError("payload-too-large", f"{what} is larger than {MAX_PAYLOAD_BYTES} bytes")
    if _nesting(text) > MAX_PAYLOAD_DEPTH:
        raise PayloadError("payload-too-deep", f"{what} is nested deeper than {MAX_PAYLOAD_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as err:
        raise PayloadError("payload-not-json",
                           f"{what} is not JSON: line {err.lineno} column {err.colno}: {err.msg}") from None
    except RecursionError:
        raise PayloadError("payload-too-deep", f"{what} is nested too deeply") from None
    except PayloadError as err:  # raised by a number hook, which does not know what is being read
        raise PayloadError(err.code, f"{what}: {err}") from None
    check_value(value, what=what)
    return value


def check_value(value: Any, *, what: str = "the payload") -> Any:
    """Check JSON-like data built elsewhere (YAML, Python callers) against the same limits."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item, what)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise PayloadError("payload-non-finite", f"{what} holds {item!r}; numbers must be finite")
        elif isinstance(item, int):
            if item.bit_length() > MAX_INT_DIGITS * 3.33:
                raise PayloadError("payload-number-too-long",
                                   f"{what} holds an integer longer than {MAX_INT_DIGITS} digits")
        elif isinstance(item, Mapping | list | tuple):
            if depth > MAX_PAYLOAD_DEPTH:
                raise PayloadError("payload-too-deep", f"{what} is nested deeper than {MAX_PAYLOAD_DEPTH} levels")
            if isinstance(item, Mapping):
                for k, v in item.items():
                    if isinstance(k, str):
                        _check_text(k, what)
                    stack.append((v, depth + 1))
            else:
                stack.extend((v, depth + 1) for v in item)
    return value


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise PayloadError("payload-bad-text",
                           f"{what} holds a lone surrogate (\\u{ord(text[err.start]):04x}), which is not text") from None
