"""Content hash of a plan: canonical JSON of its semantic content, spans left out."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from typing import Any

__all__ = ["canonical", "content_hash"]


_SKIP = ("span", "content_hash", "compiled")
_FIELDS: dict[type, tuple[str, ...]] = {}


def _hashed_fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.compare and f.name not in _SKIP)
        _FIELDS[cls] = names
    return names


def canonical(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"@": type(value).__name__}
        for name in _hashed_fields(type(value)):
            out[name] = canonical(getattr(value, name))
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, float) and value.is_integer():
        return value  # json keeps 1.0 distinct from 1, which is what we want
    return value


def content_hash(value: Any) -> str:
    """The plan's dataclasses leave spans and compiled objects out of their repr, so the repr is the
    semantic content; it is several times faster to produce than a canonical JSON walk."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and hasattr(value, "content_hash"):
        value = dataclasses.replace(value, content_hash="")
    return hashlib.sha256(repr(value).encode()).hexdigest()
