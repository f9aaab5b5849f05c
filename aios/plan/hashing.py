"""Content hash of a plan: canonical JSON of its semantic content, spans left out."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from typing import Any

__all__ = ["canonical", "content_hash"]


def canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            if f.name in ("span", "content_hash", "compiled") or not f.compare:
                continue
            out[f.name] = canonical(getattr(value, f.name))
        return {"@": type(value).__name__, **out}
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
    data = json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(data.encode()).hexdigest()
