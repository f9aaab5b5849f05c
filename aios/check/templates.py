"""Check jinja2 templates in the sandboxed environment: syntax, names, fields, step order.

Every template the runtime will render is parsed here, and every variable path it reads is resolved
against the shapes of the scope it runs in, so `aios validate` catches what rendering would hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError, nodes

from aios.articles import a_or_an
from aios.check.context import CheckContext
from aios.check.shapes import ObjShape, Shape, item_of, member
from aios.plan.plan import Template
from aios.plan.types import RecordType
from aios.span import Span
from aios.spec.build import did_you_mean
from aios.templating import expression_source, sandbox

__all__ = ["Scope", "TemplateChecker", "sandbox", "has_template", "parse_expression_source"]

_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_FILTER = r"\|\s*[A-Za-z_][A-Za-z0-9_]*\s*(?:\(\s*(?:'[^'{}\\]*'|\"[^\"{}\\]*\"|-?[0-9]+)?\s*\))?\s*"
_LITERAL = r"(?:-?[0-9]+(?:\.[0-9]+)?|'[^'{}\\]*'|\"[^\"{}\\]*\")"
_COMPARE = r"(?:(?:==|!=|>=|<=|>|<)\s*" + _LITERAL + r"\s*)?"
_SIMPLE = re.compile(r"\{\{\s*(" + _PATH + r")\s*((?:" + _FILTER + r")*)" + _COMPARE + r"\}\}")
_FILTER_NAME = re.compile(r"\|\s*([A-Za-z_][A-Za-z0-9_]*)")
_KEYWORDS = {"not", "and", "or", "in", "is", "if", "else", "elif", "true", "false", "none", "True", "False",
             "None", "for", "recursive", "block", "endblock", "set", "with", "import", "from", "as"}
_JINJA_GLOBALS = {"range", "dict", "lipsum", "cycler", "joiner", "namespace", "true", "false", "none",
                  "True", "False", "None", "loop"}


def has_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


parse_expression_source = expression_source


@dataclass
class Scope:
    """The variables a template can see, by name, and for `steps`, which ids are upstream."""

    names: dict[str, Shape]
    upstream: frozenset[str] | None = None  # None: `steps` is not restricted (not in a playbook)
    step_id: str | None = None
    written_upstream: frozenset[str] | None = None
    records: dict[str, RecordType] = field(default_factory=dict)


class TemplateChecker:
    def __init__(self, ctx: CheckContext) -> None:
        self.ctx = ctx
        self.env = sandbox()

    def check(self, tpl: Template, scope: Scope) -> None:
        span = tpl.span
        assert span is not None
        source = tpl.source
        if tpl.expression:
            source = "{{ " + parse_expression_source(tpl.source) + " }}"
        if self._check_simple(source, scope, span):
            return
        try:
            ast = self.env.parse(source)
        except TemplateSyntaxError as err:
            self._syntax(err, span, tpl)
            return
        locals_ = self._locals(ast)
        self._walk(ast, scope, locals_, span)

    def check_file(self, path: str, text: str, scope: Scope) -> None:
        """A prompt template file: positions are the file's own lines."""
        lines = text.splitlines() or [""]
        span = Span(path, 0, 0, len(lines) - 1, len(lines[-1]))
        try:
            ast = self.env.parse(text)
        except TemplateSyntaxError as err:
            line = max((err.lineno or 1) - 1, 0)
            self.ctx.sink.report("template-syntax", f"template syntax error: {err.message}",
                                 Span.point(path, line, 0, len(lines[line]) if line < len(lines) else 1))
            return
        self._walk(ast, scope, self._locals(ast), span)

    # -- internals ---------------------------------------------------------------------------

    def _check_simple(self, source: str, scope: Scope, span: Span) -> bool:
        """Most templates are plain paths with a filter or two (`{{ steps.a.output.x | join(', ') }}`);
        check those without the jinja parser. Anything else returns False and takes the full path."""
        matches = list(_SIMPLE.finditer(source))
        if not matches:
            return False
        rest = _SIMPLE.sub("", source)
        if "{" in rest or "}" in rest:
            return False
        for m in matches:
            parts = m.group(1).split(".")
            if any(p in _KEYWORDS for p in parts):
                return False
        for m in matches:
            self._resolve(m.group(1).split("."), scope, set(), span)
            for name in _FILTER_NAME.findall(m.group(2)):
                if name not in self.env.filters:
                    self.ctx.sink.report("template-unknown-filter", f"unknown filter `{name}`",
                                         self.ctx.locate(span, name), hint=did_you_mean(name, self.env.filters))
        return True

    def _syntax(self, err: TemplateSyntaxError, span: Span, tpl: Template) -> None:
        msg = err.message or "invalid template"
        hint = None
        if "unexpected end of template" in msg:
            hint = "a `{{`, `{%` or block is not closed"
        elif "expected token 'end of print statement'" in msg:
            hint = "check the expression inside `{{ … }}`; strings need quotes"
        self.ctx.sink.report("template-syntax", f"template syntax error: {msg}", span, hint=hint)

    def _locals(self, ast: nodes.Template) -> set[str]:
        """Names a template binds itself (`for`, `set`, macro parameters); they shadow the scope."""
        return {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}

    def _walk(self, node: nodes.Node, scope: Scope, locals_: set[str], span: Span) -> None:
        if isinstance(node, (nodes.Getattr, nodes.Getitem)) or (isinstance(node, nodes.Name) and node.ctx == "load"):
            chain, rest = _chain(node)
            if chain:
                self._resolve(chain, scope, locals_, span)
                for child in rest:
                    self._walk(child, scope, locals_, span)
                return
        if isinstance(node, nodes.Filter) and node.name not in self.env.filters:
            self.ctx.sink.report("template-unknown-filter", f"unknown filter `{node.name}`",
                                 self.ctx.locate(span, node.name),
                                 hint=did_you_mean(node.name, self.env.filters))
        if isinstance(node, nodes.Test) and node.name not in self.env.tests:
            self.ctx.sink.report("template-unknown-filter", f"unknown test `{node.name}`",
                                 self.ctx.locate(span, node.name), hint=did_you_mean(node.name, self.env.tests))
        for child in node.iter_child_nodes():
            self._walk(child, scope, locals_, span)

    def _resolve(self, chain: list[str], scope: Scope, locals_: set[str], span: Span) -> None:
        root = chain[0]
        if root in locals_ or root in _JINJA_GLOBALS:
            return
        text = ".".join(chain)
        for part in chain:
            if part.startswith("_"):
                self.ctx.sink.report("template-unsafe", f"`{text}` reaches for a private attribute",
                                     self.ctx.locate(span, part),
                                     hint="templates run in a sandbox; attributes starting with `_` are refused")
                return
        shape = scope.names.get(root)
        if shape is None:
            self.ctx.sink.report("template-unknown-variable", f"unknown variable `{root}` in template",
                                 self.ctx.locate(span, root),
                                 hint=did_you_mean(root, scope.names) or
                                 "available: " + ", ".join(f"`{n}`" for n in sorted(scope.names)))
            return
        if root == "steps" and len(chain) >= 2 and scope.upstream is not None:
            sid = chain[1]
            if sid in scope.names["steps"].members if isinstance(scope.names["steps"], ObjShape) else False:
                if sid == scope.step_id:
                    self.ctx.sink.report("template-step-not-upstream", f"step `{sid}` reads its own output",
                                         self.ctx.locate(span, f"steps.{sid}"))
                    return
                if sid not in scope.upstream:
                    self.ctx.sink.report(
                        "template-step-not-upstream",
                        f"`steps.{sid}` is read here but step `{scope.step_id}` does not need `{sid}`",
                        self.ctx.locate(span, f"steps.{sid}"),
                        hint=f"add `{sid}` to `needs` of `{scope.step_id}` (directly or through another step)")
                    return
        if root == "records" and len(chain) >= 2 and scope.written_upstream is not None:
            schema = chain[1]
            if schema in scope.records and schema not in scope.written_upstream:
                self.ctx.sink.report(
                    "template-record-not-written",
                    f"`records.{schema}` is read here but no step before `{scope.step_id}` writes {a_or_an(f'`{schema}`')}",
                    self.ctx.locate(span, f"records.{schema}"),
                    hint=f"add the step that writes `{schema}` to `needs`")
                return
        path = [root]
        for part in chain[1:]:
            if part == "[]":
                shape = item_of(shape)
                continue
            nxt, options = member(shape, part, scope.records)
            if nxt is None:
                where = ".".join(path)
                self._unknown_member(shape, where, part, options, span)
                return
            shape = nxt
            path.append(part)

    def _unknown_member(self, shape: Shape, where: str, part: str, options: list[str], span: Span) -> None:
        hint = did_you_mean(part, options) or ("known: " + ", ".join(f"`{o}`" for o in options[:12])
                                               if options else None)
        loc = self.ctx.locate(span, f"{where}.{part}")
        if loc == span:
            loc = self.ctx.locate(span, part)
        if isinstance(shape, ObjShape) and shape.meta == "step":
            self.ctx.sink.report("unknown-step", f"unknown step `{part}` in `{where}.{part}`", loc, hint=hint)
        elif isinstance(shape, ObjShape) and shape.meta == "schema":
            if ("schema", part) in self.ctx.broken:
                return  # declared, but its document did not build: that error is reported
            self.ctx.sink.report("unknown-schema", f"unknown schema `{part}` in `{where}.{part}`", loc, hint=hint)
        elif isinstance(shape, ObjShape) and shape.meta == "object":
            self.ctx.sink.report("template-unknown-variable", f"`{where}` has no `{part}`", loc, hint=hint)
        else:
            self.ctx.sink.report("template-unknown-field",
                                 f"`{where}` is {shape.describe()}, which has no field `{part}`", loc, hint=hint)


def _chain(node: nodes.Node) -> tuple[list[str], list[nodes.Node]]:
    """``a.b["c"][0]`` → (["a", "b", "c", "[]"], [dynamic subscript nodes to visit separately])."""
    parts: list[str] = []
    rest: list[nodes.Node] = []
    cur = node
    while True:
        if isinstance(cur, nodes.Getattr):
            parts.append(cur.attr)
            cur = cur.node
        elif isinstance(cur, nodes.Getitem):
            arg = cur.arg
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                parts.append(arg.value)
            elif isinstance(arg, nodes.Const) and isinstance(arg.value, int):
                parts.append("[]")
            else:
                parts.append("[]")
                rest.append(arg)
            cur = cur.node
        elif isinstance(cur, nodes.Name):
            parts.append(cur.name)
            break
        else:
            rest.append(cur)
            return [], [node]  # rooted at a call or literal: walk it normally
    parts.reverse()
    return parts, rest
