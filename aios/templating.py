"""The one jinja2 environment for plan templates, shared by the compiler (which checks templates
against it, filters included) and the runtime (which renders with it): sandboxed, strict about
undefined names, `tojson` as plain JSON."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["environment", "sandbox", "expression_source"]


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


def environment() -> SandboxedEnvironment:
    """A fresh environment (each runtime renderer keeps its own compiled-template cache)."""
    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True, undefined=StrictUndefined)
    env.filters["tojson"] = _tojson
    return env


@lru_cache(maxsize=1)
def sandbox() -> SandboxedEnvironment:
    """The shared instance the compiler parses and checks with."""
    return environment()


def expression_source(text: str) -> str:
    """Branch conditions and ``map.over`` are bare expressions; ``{{ … }}`` around them is tolerated."""
    stripped = text.strip()
    if stripped.startswith("{{") and stripped.endswith("}}"):
        stripped = stripped[2:-2].strip()
    return stripped
