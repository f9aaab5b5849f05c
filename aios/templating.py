"""Render plan templates at run time, in the same sandboxed environment the compiler checks against.

A string that is exactly one ``{{ expression }}`` renders to the expression's native value (a list
stays a list, a number a number), as in Ansible and Home Assistant; anything else renders to text.
Undefined names raise, so nothing silently renders as an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from aios.plan.plan import Lit, Template, TList, TMap, TValue

__all__ = ["sandbox", "render_template", "render_value", "evaluate_expression", "expression_source"]

_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.S)


@lru_cache(maxsize=1)
def sandbox() -> SandboxedEnvironment:
    """The one environment for templates: sandboxed, strict about undefined names."""
    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=True, undefined=StrictUndefined)


def expression_source(text: str) -> str:
    """Branch conditions and ``map.over`` are bare expressions; ``{{ … }}`` around them is tolerated."""
    stripped = text.strip()
    if stripped.startswith("{{") and stripped.endswith("}}"):
        stripped = stripped[2:-2].strip()
    return stripped


@lru_cache(maxsize=4096)
def _compiled_expression(source: str) -> Any:
    return sandbox().compile_expression(source, undefined_to_none=False)


@lru_cache(maxsize=4096)
def _compiled_template(source: str) -> Any:
    return sandbox().from_string(source)


def evaluate_expression(source: str, variables: Mapping[str, Any]) -> Any:
    return _compiled_expression(expression_source(source))(**variables)


def render_template(tpl: Template, variables: Mapping[str, Any]) -> Any:
    if tpl.expression:
        return evaluate_expression(tpl.source, variables)
    m = _SINGLE.match(tpl.source)
    if m is not None:
        return evaluate_expression(m.group("expr"), variables)
    return _compiled_template(tpl.source).render(**variables)


def render_value(value: TValue, variables: Mapping[str, Any]) -> Any:
    """Render a template tree (a step's input, a record write's fields) into plain data."""
    if isinstance(value, Template):
        return render_template(value, variables)
    if isinstance(value, Lit):
        return value.value
    if isinstance(value, TMap):
        return {k: render_value(v, variables) for k, v in value.items}
    if isinstance(value, TList):
        return [render_value(v, variables) for v in value.items]
    raise TypeError(f"not a template value: {value!r}")
