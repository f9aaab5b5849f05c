"""Parse ``.rules`` files into the rule AST, reporting syntax errors as positioned diagnostics.

The Lark LALR parser is built once per process from ``grammar/rules.lark``. When a file does not
parse, it is cut into statements (at lines starting with ``rule``, ``policy`` or ``default``) and each
statement is parsed on its own, so one run reports every broken statement and keeps the good ones.
Messages say what was expected in words, never in Lark's terminal names.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from pathlib import PurePosixPath
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from aios.diagnostics import DiagnosticSink
from aios.durations import UNIT_SECONDS, duration_seconds, too_long_message
from aios.limits import MAX_INT_DIGITS
from aios.policy import ast
from aios.policy.currencies import CURRENCIES
from aios.policy.decision import Effect
from aios.resources import grammar_path
from aios.span import Span

__all__ = ["parse_rules", "lark_parser", "parse_duration"]


@functools.cache
def lark_parser() -> Lark:
    """The LALR parser, built once per process and kept between processes.

    Building it (grammar analysis, LALR tables) costs about 60 ms, a seventh of a cold `aios validate`.
    Lark stores what it built in a file of the user's cache folder (`$AIOS_CACHE_DIR`, else
    `$XDG_CACHE_HOME/aios` or `~/.cache/aios`), stamped with a hash of the grammar, the options, the
    Lark and the Python version; a stale, unreadable or half-written file is rebuilt, never trusted.
    """
    text = grammar_path("rules.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=True,
                cache=_cache_file())


def _cache_file() -> str | bool:
    base = os.environ.get("AIOS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "aios")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
    except OSError:  # no writable cache folder: build the parser every time
        return False
    return os.path.join(base, "rules-parser.lark")


_STATEMENT_START = re.compile(r"^[ \t]*(rule|policy|default)\b", re.MULTILINE)
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def parse_duration(text: str) -> float:
    """``2h30m`` -> 9000.0 seconds (unbounded; the parser refuses literals beyond the limit)."""
    return float(sum(int(n) * UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text)))


def parse_rules(path: str, text: str, sink: DiagnosticSink) -> ast.PolicyFile:
    """Parse one rules file. Never raises for user errors: they go to ``sink``."""
    builder = _Builder(path, sink)
    parser = lark_parser()
    try:
        tree = parser.parse(text)
    except UnexpectedInput:
        return _parse_recovering(path, text, sink, builder)
    except RecursionError:
        sink.report("rule-syntax", "expressions are nested too deeply", Span.whole_file(path))
        return ast.PolicyFile(path, _stem(path), (), complete=False)
    items = builder.items(tree)
    if items is None:
        return ast.PolicyFile(path, _stem(path), (), complete=False)
    return _assemble(path, items, sink, complete=True)


def _parse_recovering(path: str, text: str, sink: DiagnosticSink, builder: _Builder) -> ast.PolicyFile:
    parser = lark_parser()
    starts = [m.start() for m in _STATEMENT_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    starts.append(len(text))
    items: list[Any] = []
    for begin, end in zip(starts, starts[1:], strict=False):
        chunk = text[begin:end]
        if not chunk.strip():
            continue
        line_offset = text.count("\n", 0, begin)
        try:
            tree = parser.parse("\n" * line_offset + chunk)
        except UnexpectedInput as err:
            nxt = _STATEMENT_START.match(text, end)
            next_word = nxt.group(1) if nxt else None
            _report_syntax(path, text, text.count("\n", 0, end), next_word, err, sink)
            continue
        except RecursionError:
            sink.report("rule-syntax", "expressions are nested too deeply", Span.point(path, line_offset, 0))
            continue
        got = builder.items(tree)
        if got:
            items.extend(got)
    return _assemble(path, items, sink, complete=False)


def _stem(path: str) -> str:
    return PurePosixPath(path).stem


def _assemble(path: str, items: list[Any], sink: DiagnosticSink, *, complete: bool) -> ast.PolicyFile:
    name, name_span = _stem(path), None
    default: ast.EffectSpec | None = None
    rules: list[ast.Rule] = []
    for item in items:
        if isinstance(item, ast.Rule):
            rules.append(item)
        elif isinstance(item, ast.EffectSpec):
            if default is not None:
                sink.report("policy-redeclared", "this file already sets its default", item.span,
                            hint=f"the first `default` is at {default.span.show()}; keep one")
            else:
                default = item
        else:
            decl_name, span = item
            if name_span is not None:
                sink.report("policy-redeclared", "this file already names its policy", span,
                            hint=f"`policy {name}` is at {name_span.show()}; a file holds one policy")
            else:
                name, name_span = decl_name, span
    return ast.PolicyFile(path, name, tuple(rules), default, name_span, complete)


# --------------------------------------------------------------------------------------------------
# Lark tree -> AST
# --------------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, path: str, sink: DiagnosticSink) -> None:
        self.path = path
        self.sink = sink

    def items(self, tree: Tree[Any]) -> list[Any] | None:
        try:
            result = _ToAst(self.path, self.sink).transform(tree)
        except VisitError as err:
            if isinstance(err.orig_exc, RecursionError):
                self.sink.report("rule-syntax", "expressions are nested too deeply", Span.whole_file(self.path))
                return None
            raise
        except RecursionError:
            self.sink.report("rule-syntax", "expressions are nested too deeply", Span.whole_file(self.path))
            return None
        assert isinstance(result, list)
        return result


def _meta_span(path: str, meta: Any) -> Span:
    return Span.from_lark(path, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(path: str, tok: Token) -> Span:
    line = tok.line or 1
    col = tok.column or 1
    return Span.from_lark(path, line, col, tok.end_line or line, tok.end_column or col + len(tok))


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    def __init__(self, path: str, sink: DiagnosticSink) -> None:
        super().__init__()
        self.path = path
        self.sink = sink

    def _span(self, meta: Any) -> Span:
        return _meta_span(self.path, meta)

    def _tspan(self, tok: Token) -> Span:
        return _tok_span(self.path, tok)

    # ---- statements -------------------------------------------------------------------------
    def start(self, meta: Any, children: list[Any]) -> list[Any]:
        return list(children)

    def policy_decl(self, meta: Any, children: list[Any]) -> tuple[str, Span]:
        (name,) = children
        return (str(name), self._tspan(name))

    def default_decl(self, meta: Any, children: list[Any]) -> ast.EffectSpec:
        effect: ast.EffectSpec = children[0]
        return effect

    def rule_decl(self, meta: Any, children: list[Any]) -> ast.Rule:
        name, when, effect = children
        return ast.Rule(str(name), when, effect, self._span(meta), self._tspan(name))

    def when_clause(self, meta: Any, children: list[Any]) -> ast.Expr:
        expr: ast.Expr = children[0]
        return expr

    def allow(self, meta: Any, children: list[Any]) -> ast.EffectSpec:
        return ast.EffectSpec(Effect.ALLOW, self._string(children[0]), self._span(meta))

    def deny(self, meta: Any, children: list[Any]) -> ast.EffectSpec:
        return ast.EffectSpec(Effect.DENY, self._string(children[0]), self._span(meta))

    def require(self, meta: Any, children: list[Any]) -> ast.EffectSpec:
        reason, approvers, timeout = children
        return ast.EffectSpec(Effect.REQUIRE_APPROVAL, self._string(reason), self._span(meta),
                              tuple(approvers or ()), timeout)

    def approvers(self, meta: Any, children: list[Any]) -> tuple[str, ...]:
        return tuple(self._string(c) or "" for c in children)

    def timeout(self, meta: Any, children: list[Any]) -> float | None:
        return self._duration(children[0], "without a `timeout`, an approval waits until someone decides")

    def _duration(self, tok: Token, hint: str | None = None) -> float | None:
        """Seconds of a duration literal; None (reported) beyond `MAX_DURATION_DAYS`."""
        seconds = duration_seconds(str(tok))
        if seconds is None:
            self.sink.report("rule-invalid-literal", too_long_message(str(tok)), self._tspan(tok), hint=hint)
        return seconds

    def _number(self, text: str, tok: Token, what: str) -> int | float:
        """A number literal's value; 0 (reported) when its integer part is longer than `MAX_INT_DIGITS`."""
        digits = len(text.split(".")[0])
        if digits > MAX_INT_DIGITS:
            self.sink.report("rule-invalid-literal",
                             f"this {what} has {digits} digits, longer than the limit of {MAX_INT_DIGITS} digits",
                             self._tspan(tok))
            return 0
        return float(text) if "." in text else int(text)

    def _string(self, tok: Token | None) -> str | None:
        if tok is None:
            return None
        return self._decode_string(tok)

    # ---- expressions ------------------------------------------------------------------------
    def or_(self, meta: Any, children: list[Any]) -> ast.Or:
        return ast.Or(children[0], children[1], self._span(meta))

    def and_(self, meta: Any, children: list[Any]) -> ast.And:
        return ast.And(children[0], children[1], self._span(meta))

    def not_(self, meta: Any, children: list[Any]) -> ast.Not:
        return ast.Not(children[0], self._span(meta))

    def compare(self, meta: Any, children: list[Any]) -> ast.Compare:
        left, op, right = children
        return ast.Compare(str(op), left, right, self._span(meta), self._tspan(op))

    def in_(self, meta: Any, children: list[Any]) -> ast.In:
        return ast.In(children[0], children[1], False, self._span(meta))

    def not_in(self, meta: Any, children: list[Any]) -> ast.In:
        return ast.In(children[0], children[1], True, self._span(meta))

    def arith(self, meta: Any, children: list[Any]) -> ast.Arith:
        left, op, right = children
        return ast.Arith(str(op), left, right, self._span(meta), self._tspan(op))

    def neg(self, meta: Any, children: list[Any]) -> ast.Expr:
        operand = children[0]
        span = self._span(meta)
        if isinstance(operand, ast.Literal) and operand.kind in (ast.LitKind.NUMBER, ast.LitKind.MONEY,
                                                                  ast.LitKind.DURATION):
            value = operand.value
            assert isinstance(value, (int, float, dt.timedelta))
            return ast.Literal(operand.kind, -value, span, operand.currency)
        return ast.Neg(operand, span)

    def attr(self, meta: Any, children: list[Any]) -> ast.Attr:
        base, name = children
        return ast.Attr(base, str(name), self._span(meta), self._tspan(name))

    def name(self, meta: Any, children: list[Any]) -> ast.Name:
        (tok,) = children
        return ast.Name(str(tok), self._tspan(tok))

    def call(self, meta: Any, children: list[Any]) -> ast.Call:
        func, *args = children
        return ast.Call(str(func), tuple(a for a in args if a is not None), self._span(meta), self._tspan(func))

    def list_expr(self, meta: Any, children: list[Any]) -> ast.ListExpr:
        return ast.ListExpr(tuple(c for c in children if c is not None), self._span(meta))

    # ---- literals ---------------------------------------------------------------------------
    def _lit(self, kind: ast.LitKind, value: ast.LitValue, tok: Token, currency: str | None = None) -> ast.Literal:
        return ast.Literal(kind, value, self._tspan(tok), currency)

    def number(self, meta: Any, children: list[Any]) -> ast.Literal:
        (tok,) = children
        text = str(tok)
        return self._lit(ast.LitKind.NUMBER, self._number(text, tok, "number"), tok)

    def money(self, meta: Any, children: list[Any]) -> ast.Literal:
        (tok,) = children
        text = str(tok)
        amount_text, currency = text[:-3].strip(), text[-3:]
        amount = self._number(amount_text, tok, "amount")
        if currency not in CURRENCIES:
            import difflib

            close = difflib.get_close_matches(currency, sorted(CURRENCIES), n=1)
            self.sink.report(
                "rule-invalid-literal", f"`{currency}` is not a currency code aios knows", self._tspan(tok),
                hint=(f"did you mean `{close[0]}`? " if close else "")
                + "amounts are written as a number and an ISO 4217 code, e.g. `200 EUR`",
            )
        return self._lit(ast.LitKind.MONEY, amount, tok, currency)

    def duration(self, meta: Any, children: list[Any]) -> ast.Literal:
        (tok,) = children
        seconds = self._duration(tok)
        return self._lit(ast.LitKind.DURATION, dt.timedelta(seconds=seconds or 0), tok)

    def date(self, meta: Any, children: list[Any]) -> ast.Literal:
        (tok,) = children
        try:
            value: dt.date = dt.date.fromisoformat(str(tok))
        except ValueError as exc:
            self.sink.report("rule-invalid-literal", f"`{tok}` is not a date: {exc}", self._tspan(tok),
                             hint="dates are written YYYY-MM-DD")
            value = dt.date(1970, 1, 1)
        return self._lit(ast.LitKind.DATE, value, tok)

    def datetime(self, meta: Any, children: list[Any]) -> ast.Literal:
        (tok,) = children
        try:
            value = dt.datetime.fromisoformat(str(tok))
        except ValueError as exc:
            self.sink.report("rule-invalid-literal", f"`{tok}` is not a date-time: {exc}", self._tspan(tok),
                             hint="date-times are written YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]")
            value = dt.datetime(1970, 1, 1)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return self._lit(ast.LitKind.DATETIME, value, tok)

    def string(self, meta: Any, children: list[Any]) -> ast.Literal:
        (tok,) = children
        return self._lit(ast.LitKind.STRING, self._decode_string(tok), tok)

    def true(self, meta: Any, children: list[Any]) -> ast.Literal:
        return ast.Literal(ast.LitKind.BOOL, True, self._span(meta))

    def false(self, meta: Any, children: list[Any]) -> ast.Literal:
        return ast.Literal(ast.LitKind.BOOL, False, self._span(meta))

    def null(self, meta: Any, children: list[Any]) -> ast.Literal:
        return ast.Literal(ast.LitKind.NULL, None, self._span(meta))

    def _decode_string(self, tok: Token) -> str:
        raw = str(tok)[1:-1]
        if "\\" not in raw:
            return raw
        out: list[str] = []
        i = 0
        while i < len(raw):
            ch = raw[i]
            if ch == "\\" and i + 1 < len(raw):
                nxt = raw[i + 1]
                if nxt in _ESCAPES:
                    out.append(_ESCAPES[nxt])
                else:
                    span = Span.point(self.path, (tok.line or 1) - 1, (tok.column or 1) + i, 2)
                    self.sink.report("rule-invalid-literal", f"unknown escape `\\{nxt}` in a string", span,
                                     hint='strings know \\" \\\\ \\n and \\t; for a regex backslash write \\\\')
                    out.append(nxt)
                i += 2
                continue
            out.append(ch)
            i += 1
        return "".join(out)


# --------------------------------------------------------------------------------------------------
# Syntax errors in words
# --------------------------------------------------------------------------------------------------

_EFFECTS = {"ALLOW", "DENY", "REQUIRE"}
_OPERATORS = {"COMP_OP", "ADD_OP", "MUL_OP", "AND", "OR", "IN", "NOT", "DOT"}
_VALUES = {"NAME", "STRING", "NUMBER", "MONEY", "DATE", "DATETIME", "DURATION", "TRUE", "FALSE", "NULL",
           "LSQB", "LPAR", "MINUS"}
_STATEMENTS = {"RULE", "POLICY", "DEFAULT"}
_KEYWORDS = {"and", "or", "not", "in", "when", "allow", "deny", "require", "approval", "rule", "true",
             "false", "null"}
_WORDS = {
    "$END": "the end of the file", "STRING": "a string in double quotes", "NAME": "a name",
    "FIELD": "a field name", "COMP_OP": "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`)",
    "ADD_OP": "`+` or `-`", "MUL_OP": "`*`, `/` or `%`", "NUMBER": "a number", "MONEY": "an amount such as `200 EUR`",
    "DATE": "a date such as `2026-03-01`", "DATETIME": "a date-time such as `2026-03-01T10:00`",
    "DURATION": "a duration such as `30m` or `2h`", "COMMA": "`,`", "RPAR": "`)`", "RSQB": "`]`",
    "LPAR": "`(`", "WHEN": "`when`", "APPROVAL": "`approval`", "BY": "`by`", "TIMEOUT": "`timeout`",
}

# A few broken statements with a message written for them (Lark's match_examples picks by parser state).
_NEEDS_EFFECT = "a rule needs an effect after its condition: `allow`, `deny \"reason\"` or `require approval \"reason\"`"
_EXAMPLES: dict[str, list[str]] = {
    "comparisons do not chain: write `a < b and b < c`": [
        "rule a when x < y < z allow",
        "rule a when x == y == z allow",
        "rule a when x < 1 < z allow",
    ],
    "write `require approval \"reason\"`": [
        'rule a require "why"',
        "rule a when x require allow",
    ],
    "a rule starts with `rule NAME`": [
        "rule when x allow",
        'rule "name" allow',
    ],
}


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    text = str(tok)
    if len(text) > 24:
        text = text[:21] + "..."
    return f"`{text}`"


def _expected_words(expected: set[str]) -> str:
    parts: list[str] = []
    rest = set(expected)
    if rest & _VALUES and len(rest & _VALUES) > 3:
        parts.append("a value (a field like `action.kind`, a string, a number, a list)")
        rest -= _VALUES
    if rest & _OPERATORS and len(rest & _OPERATORS) > 2:
        parts.append("an operator (`==`, `<`, `+`, `and`, `or`, `in`, …)")
        rest -= _OPERATORS
    if rest & _EFFECTS:
        parts.append("an effect (`allow`, `deny \"reason\"` or `require approval \"reason\"`)")
        rest -= _EFFECTS
    if rest & _STATEMENTS:
        parts.append("a statement (`rule NAME …`, `policy NAME` or `default EFFECT`)")
        rest -= _STATEMENTS
    parser = lark_parser()
    for name in sorted(rest):
        if name in _WORDS:
            parts.append(_WORDS[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            parts.append(name.lower())
            continue
        if pattern.type == "str":
            parts.append(f"`{pattern.value}`")
        else:
            parts.append("something else")
    if not parts:
        return "something else"
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def _report_syntax(
    path: str, text: str, chunk_end_line: int, next_word: str | None, err: UnexpectedInput, sink: DiagnosticSink,
) -> None:
    """Report one syntax error of a statement that ends before line ``chunk_end_line``."""
    lines = text.splitlines()
    label = None
    if isinstance(err, (UnexpectedToken, UnexpectedEOF)):
        try:
            label = err.match_examples(lark_parser().parse, _EXAMPLES, use_accepts=True)
        except Exception:  # match_examples re-parses examples; a failure there must not hide the error
            label = None
    if isinstance(err, UnexpectedCharacters):
        line, col = err.line - 1, err.column - 1
        message, hint = _bad_character(_text_char(lines, line, col))
        sink.report("rule-syntax", message, Span.point(path, line, col), hint=hint)
        return
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        tok = err.token
        span = _tok_span(path, tok)
        expected = set(err.expected)
        found = _describe_token(tok)
        offset = _offset_of(lines, span.line, span.col)
    else:
        last = min(chunk_end_line, len(lines)) - 1
        while last > 0 and (not lines[last].strip() or lines[last].lstrip().startswith("#")):
            last -= 1
        last = max(last, 0)
        col = len(_strip_comment(lines[last]).rstrip()) if lines else 0
        span = Span.point(path, last, col)
        expected = set(getattr(err, "expected", ()) or ())
        found = f"`{next_word}` on line {chunk_end_line + 1}" if next_word else "end of file"
        offset = _offset_of(lines, last, col)
    if _open_brackets(text, offset) == 0:
        expected -= {"COMMA", "RPAR", "RSQB"}
    message = f"unexpected {found}; expected {_expected_words(expected)}"
    hint = None
    word = str(err.token) if isinstance(err, UnexpectedToken) else ""
    after_number = re.search(r"\d[ \t]*$", text[:offset]) is not None
    if isinstance(err, UnexpectedToken) and err.token.type == "NAME" and word.lower() in _KEYWORDS:
        message = f"unexpected {found}: keywords are lower case"
        hint = f"write `{word.lower()}`"
    elif isinstance(err, UnexpectedToken) and err.token.type == "NAME" and word.isupper() and after_number:
        message = f"unexpected {found}: not a currency code"
        hint = "amounts are a number and an ISO 4217 code: `200 EUR`, `9.50 USD`"
    elif expected >= _EFFECTS and (found.startswith("`rule`") or found.startswith("`policy`")
                                   or found.startswith("`default`") or found == "end of file"):
        message = f"unexpected {found}: {_NEEDS_EFFECT}"
    elif label is not None:
        message = f"unexpected {found}: {label}"
    sink.report("rule-syntax", message, span, hint=hint)


def _offset_of(lines: list[str], line: int, col: int) -> int:
    return sum(len(x) + 1 for x in lines[:line]) + col


def _strip_comment(line: str) -> str:
    in_string = False
    for i, ch in enumerate(line):
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            in_string = not in_string
        elif ch == "#" and not in_string:
            return line[:i]
    return line


def _open_brackets(text: str, end: int) -> int:
    """How many `(` / `[` are open at ``end`` within the current statement (strings, comments skipped)."""
    start = 0
    for m in _STATEMENT_START.finditer(text, 0, end):
        start = m.start()
    depth = 0
    i = start
    while i < end:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < end and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if ch == "#":
            nl = text.find("\n", i, end)
            i = end if nl < 0 else nl + 1
            continue
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        i += 1
    return depth


def _text_char(lines: list[str], line: int, col: int) -> str:
    if 0 <= line < len(lines) and 0 <= col < len(lines[line]):
        return lines[line][col]
    return ""


def _bad_character(ch: str) -> tuple[str, str | None]:
    hints = {
        "=": "compare with `==`",
        "&": "write `and`",
        "|": "write `or`",
        "!": "write `not`, or `!=` to compare",
        "'": 'strings use double quotes: "like this"',
        '"': "the string is not closed on this line",
        "{": "rules have no braces; a rule is `rule NAME when CONDITION EFFECT`",
        "}": "rules have no braces; a rule is `rule NAME when CONDITION EFFECT`",
        ";": "statements need no separator",
        ":": "rules have no colons; a rule is `rule NAME when CONDITION EFFECT`",
    }
    shown = ch if ch.isprintable() and ch else repr(ch)
    if ch == '"':
        return ("unterminated string", hints['"'])
    return (f"unexpected character `{shown}`", hints.get(ch))
