"""Render plan templates in a jinja2 sandbox with strict undefined names.

A template that is exactly one ``{{ expression }}`` (or a plan ``Template`` marked ``expression``)
evaluates to the expression's native value, so ``input: "{{ event.payload }}"`` passes the payload as
an object, not as its text. Any other template renders to a string. Compiled templates are cached by
source text for the life of the process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import TemplateError, Undefined

from aios.articles import a_or_an
from aios.errors import RunError
from aios.plan.plan import Lit, Template, TList, TMap, TValue
from aios.templating import environment, expression_source

__all__ = ["TemplateFailed", "Renderer", "environment", "render_text"]

_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)


class TemplateFailed(RunError):
    def __init__(self, source: str, error: str) -> None:
        self.source = source
        self.error = error
        super().__init__(f"template `{source.strip()[:80]}` failed: {error}")


_strip_braces = expression_source


class Renderer:
    """Compiles each template source once; renders ``TValue`` trees against a context mapping."""

    def __init__(self) -> None:
        self.env = environment()
        self._cache: dict[tuple[str, bool], Callable[[Mapping[str, Any]], Any]] = {}

    def _compile(self, source: str, expression: bool) -> Callable[[Mapping[str, Any]], Any]:
        key = (source, expression)
        fn = self._cache.get(key)
        if fn is not None:
            return fn
        try:
            m = None if expression else _SINGLE.match(source)
            if expression or m is not None:
                fn = self._expression(
                    _strip_braces(source) if expression else m.group("expr").strip())  # type: ignore[union-attr]
            elif "{{" not in source and "{%" not in source:
                def constant(ctx: Mapping[str, Any], _s: str = source) -> Any:
                    return _s

                fn = constant
            else:
                tpl = self.env.from_string(source)

                def run_tpl(ctx: Mapping[str, Any], _t: Any = tpl) -> Any:
                    return _t.render(ctx)

                fn = run_tpl
        except TemplateError as err:
            raise TemplateFailed(source, str(err)) from err
        self._cache[key] = fn
        return fn

    def _expression(self, source: str) -> Callable[[Mapping[str, Any]], Any]:
        """Evaluate a compiled expression with a context built directly from the scope.

        ``TemplateExpression.__call__`` copies the scope twice and builds the context's bookkeeping
        (global key set, block map) on every call; this does the same evaluation with one copy, which
        halves the cost of the expression that every transform step evaluates.
        """
        env = self.env
        tpl = env.compile_expression(source, undefined_to_none=False)._template
        root, make, glob = tpl.root_render_func, env.context_class, dict(tpl.globals)

        def run_expr(ctx: Mapping[str, Any]) -> Any:
            context = make(env, {**glob, **ctx}, None, {})
            for _ in root(context):
                pass
            value = context.vars["result"]
            if isinstance(value, Undefined):
                str(value)  # StrictUndefined raises with the missing name
            return value

        return run_expr

    def template(self, tpl: Template, ctx: Mapping[str, Any]) -> Any:
        fn = self._compile(tpl.source, tpl.expression)
        try:
            return _plain(fn(ctx))
        except TemplateError as err:
            raise TemplateFailed(tpl.source, str(err)) from err
        except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as err:
            raise TemplateFailed(tpl.source, f"{type(err).__name__}: {err}") from err
        except _EXHAUSTED as err:  # a value nested too deeply, or too large: this step fails, not the process
            raise TemplateFailed(tpl.source, _exhausted(err)) from None

    def text(self, source: str, ctx: Mapping[str, Any]) -> str:
        """Render a whole template file (a prompt) to text."""
        key = (source, False)
        fn = self._cache.get(key)
        if fn is None:
            try:
                tpl = self.env.from_string(source)
            except TemplateError as err:
                raise TemplateFailed(source, str(err)) from err

            def run_tpl(c: Mapping[str, Any], _t: Any = tpl) -> Any:
                return _t.render(c)

            fn = self._cache[key] = run_tpl
        try:
            return str(fn(ctx))
        except TemplateError as err:
            raise TemplateFailed(source, str(err)) from err
        except _EXHAUSTED as err:
            raise TemplateFailed(source, _exhausted(err)) from None

    def value(self, v: TValue | None, ctx: Mapping[str, Any]) -> Any:
        if v is None:
            return None
        if isinstance(v, Template):
            return self.template(v, ctx)
        if isinstance(v, Lit):
            return v.value
        if isinstance(v, TMap):
            return {k: self.value(item, ctx) for k, item in v.items}
        if isinstance(v, TList):
            return [self.value(item, ctx) for item in v.items]
        raise TypeError(f"not a template value: {v!r}")


_EXHAUSTED = (RecursionError, MemoryError)


def _exhausted(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return "RecursionError: the value is nested too deeply to render"
    return "MemoryError: the value is too large to render"


def _plain(value: Any) -> Any:
    """Turn what jinja hands back into JSON data (tuples to lists, Markup to str)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    raise TypeError(f"a template produced {a_or_an(type(value).__name__)}, which is not JSON data")


def render_text(source: str, ctx: Mapping[str, Any]) -> str:
    return Renderer().text(source, ctx)
