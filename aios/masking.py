"""Secret masking: the one rule that keeps secret values out of everything aios writes or prints.

A `Masker` is built from secret values and replaces, in any text, each of these *forms* of a value
with ``***``:

- the value itself;
- JSON-escaped (``"`` → ``\\"``, ``\\`` → ``\\\\``, ASCII-only ``\\uXXXX`` too), up to three times
  over (a JSON error body quoted inside a log entry's JSON is escaped twice), and Python's repr;
- URL-encoded with ``quote`` (``safe=""`` and ``safe="/"``) and ``quote_plus``;
- base64, standard and URL-safe, at the three byte alignments (so the value is found inside a
  longer encoded string such as the ``user:secret`` of HTTP Basic auth): the characters that depend
  only on the value's bytes, when there are at least 8 of them.

Partial copies are masked too: in a form of 12 characters or more, **any run of 8 or more
consecutive characters** is masked (a truncated echo, ``sk-proj-abcdefgh…``). Shorter values get no
run masking (it would mask ordinary words), and values under 4 characters are not masked at all.
Only text is masked: JSON numbers, ``true`` and object structure are left alone (`mask_json`
decodes, masks every key and string, and encodes again).

Where it is enforced: the process keeps one active masker (`active`), grown with `watch` from the
secrets of every plan a runtime, the memory plane or the CLI resolves. The state store's connection
masks the text parameters of every INSERT/UPDATE and the one JSON encoder of stored values
(`aios.runtime.log.dumps`) masks before the log's hash is taken; the memory index writer masks each
document; the CLI masks everything it prints. See docs/runtime.md, "Secrets".

Speed: the forms are expanded once per masker. A text is first tested with one set lookup of its
UTF-8 bytes read as 4-byte words at offsets 0, 4, 8, … (any run of 7 or more bytes of a long form holds
one of them) and substring tests for the short forms; only a text that passes is scanned
precisely.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from aios.plan.plan import Plan

__all__ = ["Masker", "MASK", "MIN_SECRET", "MIN_RUN", "MIN_RUN_SECRET", "forms", "active", "watch",
           "plan_secrets", "declared_secrets", "masker_for"]

MASK = "***"
MIN_SECRET = 4  #: shorter values are never masked
MIN_RUN_SECRET = 12  #: forms at least this long have their runs masked too
MIN_RUN = 8  #: the shortest run of such a form that is masked
_MIN_BASE64 = 8  #: shortest base64 core kept as a form
_CHUNK = 4  # 2 * _CHUNK - 1 <= MIN_RUN: every masked run holds an aligned chunk of the text
_JSON_LEVELS = 3


def forms(value: str) -> set[str]:
    """Every form of ``value`` that is masked as a whole (see the module docstring)."""
    if len(value) < MIN_SECRET:
        return set()
    base = {value, repr(value)[1:-1], quote(value, safe=""), quote(value), quote_plus(value)}
    base |= _base64_forms(value.encode("utf-8", "surrogatepass"))
    out: set[str] = set()
    for form in base:
        level = {form}
        out |= level
        for _ in range(_JSON_LEVELS):
            level = {json.dumps(f, ensure_ascii=a)[1:-1] for f in level for a in (False, True)}
            out |= level
    return {f for f in out if len(f) >= MIN_SECRET}


def _base64_forms(data: bytes) -> set[str]:
    out: set[str] = set()
    for k in range(3):  # k unknown bytes precede the value in the encoded stream
        text = base64.b64encode(b"\0" * k + data).decode("ascii")
        total = k + len(data)
        start = (0, 2, 3)[k]  # characters of the first group that depend on the value only
        full = total // 3 * 4
        rest = total % 3  # a trailing partial group: its first `rest` characters are determined
        core = text[start:full + rest] if total >= 3 else ""
        if k == 0:
            out.add(text)  # the value encoded on its own, padding included
        if len(core) >= _MIN_BASE64:
            out.add(core)
    return out | {f.replace("+", "-").replace("/", "_") for f in out}


class Masker:
    """Masks a fixed set of secret values in text and JSON data. Immutable; cheap to call."""

    __slots__ = ("values", "_short", "_short_forms", "_words", "_chunks", "_grams")

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self.values: frozenset[str] = frozenset(v for v in values if v and len(v) >= MIN_SECRET)
        all_forms = set().union(*(forms(v) for v in self.values)) if self.values else set()
        long = {f for f in all_forms if len(f) >= MIN_RUN_SECRET}
        short = sorted(all_forms - long, key=lambda f: (-len(f), f))
        self._short = re.compile("|".join(map(re.escape, short))) if short else None
        self._short_forms = tuple(short)
        self._chunks = frozenset(f[i:i + _CHUNK] for f in long for i in range(len(f) - _CHUNK + 1))
        self._grams = frozenset(f[i:i + MIN_RUN] for f in long for i in range(len(f) - MIN_RUN + 1))
        encoded = [f.encode("utf-8", "surrogatepass") for f in long]
        self._words = frozenset(int.from_bytes(b[i:i + 4], sys.byteorder) for b in encoded for i in range(len(b) - 3))

    def __bool__(self) -> bool:
        return bool(self.values)

    def __repr__(self) -> str:
        return f"<Masker of {len(self.values)} secret(s)>"

    def hit(self, text: str) -> bool:
        """Whether ``text`` may hold a form or a long run of a secret (never a false "no").

        Long forms: the text's UTF-8 bytes are read as 4-byte words at offsets 0, 4, 8, … and looked
        up in the set of every 4-byte window of the forms (a run of 7 or more bytes holds such a
        word); a set lookup over a memoryview, no Python loop. Short forms: substring tests."""
        if self._short is not None:
            if len(self._short_forms) > 8:
                if self._short.search(text) is not None:
                    return True
            else:
                for form in self._short_forms:
                    if form in text:
                        return True
        if self._words and len(text) >= 2:
            data = text.encode("utf-8", "surrogatepass")
            if len(data) >= 2 * _CHUNK - 1:  # the words wholly inside a run suffice: no padding
                return not self._words.isdisjoint(memoryview(data)[:len(data) & ~3].cast("I"))
        return False

    def mask(self, text: str) -> str:
        """``text`` with every form and long run of a secret replaced by ``***``."""
        rounds = 0
        while self.hit(text) and rounds < 8:  # a replacement can join two halves into a new match
            masked = self._mask_once(text)
            if masked == text:
                break
            text, rounds = masked, rounds + 1
        return text

    def _mask_once(self, text: str) -> str:
        spans: list[tuple[int, int]] = []
        if self._short is not None:
            spans += [m.span() for m in self._short.finditer(text)]
        if self._grams:
            spans += self._runs(text)
        if not spans:
            return text
        merged: list[list[int]] = []
        for a, b in sorted(_whole_escapes(text, a, b) for a, b in spans):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        out: list[str] = []
        pos = 0
        for a, b in merged:
            out += (text[pos:a], MASK)
            pos = b
        out.append(text[pos:])
        return "".join(out)

    def _runs(self, text: str) -> list[tuple[int, int]]:
        """Spans of runs of ``MIN_RUN`` or more characters of a long form, found around the aligned
        chunks that the quick test matched, then extended one window at a time."""
        grams, chunks, n = self._grams, self._chunks, len(text)
        spans: list[tuple[int, int]] = []
        covered = -1
        for p in range(0, n - _CHUNK + 1, _CHUNK):
            if text[p:p + _CHUNK] not in chunks or p + _CHUNK <= covered:
                continue
            for i in range(max(0, p + _CHUNK - MIN_RUN), min(p, n - MIN_RUN) + 1):
                if i + MIN_RUN > covered and text[i:i + MIN_RUN] in grams:
                    a = i
                    while a > 0 and text[a - 1:a - 1 + MIN_RUN] in grams:
                        a -= 1
                    b = i + MIN_RUN
                    while b < n and text[b + 1 - MIN_RUN:b + 1] in grams:
                        b += 1
                    spans.append((a, b))
                    covered = b
        return spans

    def mask_value(self, value: Any) -> Any:
        """JSON data (or anything holding strings) with every string and key masked."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, Mapping):
            return {self.mask(str(k)) if isinstance(k, str) else k: self.mask_value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.mask_value(v) for v in value]
        return value

    def mask_json(self, text: str) -> str:
        """A stored text: JSON is decoded, masked value by value and encoded again (compact, as the
        store writes it), so masking never breaks its syntax; any other text is masked as text."""
        if not self.hit(text):
            return text
        if text[:1] in ("{", "[", '"'):
            try:
                data = json.loads(text)
            except ValueError:
                pass
            else:
                return json.dumps(self.mask_value(data), separators=(",", ":"), ensure_ascii=False)
        return self.mask(text)


def _whole_escapes(text: str, a: int, b: int) -> tuple[int, int]:
    """Widen a span so it never splits an escape sequence (``\\"``, ``\\\\``, ``\\uXXXX``): masked
    JSON text stays JSON."""
    j = text.rfind("\\u", max(0, a - 5), a)
    if j >= 0:
        a = j
    while a > 0 and text[a - 1] == "\\":
        a -= 1
    j = text.rfind("\\u", max(0, b - 5), b)
    if j >= 0 and j + 6 > b:
        b = min(len(text), j + 6)
    if b < len(text) and text[b - 1] == "\\":
        b += 1
    return a, b


# -- the process's active masker -----------------------------------------------------------------

_lock = threading.Lock()
_active = Masker()


def active() -> Masker:
    """The masker every store write, index write and CLI line goes through in this process."""
    return _active


def watch(values: Iterable[str | None]) -> Masker:
    """Add secret values to the active masker (rebuilt only when a value is new)."""
    global _active
    new = {v for v in values if v and len(v) >= MIN_SECRET}
    if new <= _active.values:
        return _active
    with _lock:
        if not new <= _active.values:
            _active = Masker(_active.values | new)
        return _active


def plan_secrets(plan: Plan, environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the plan's declared secrets whose environment variable is set: model routes'
    API keys, webhook signing secrets and connector secrets are all declared secrets."""
    env = os.environ if environ is None else environ
    return [v for v in (env.get(s.env) for s in plan.secrets) if v]


def declared_secrets(workspace: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> list[str]:
    """The same, from ``aios.yaml`` as loaded YAML (for commands that do not compile the workspace)."""
    env = os.environ if environ is None else environ
    secrets = workspace.get("secrets")
    if not isinstance(secrets, Mapping):
        return []
    names = [s.get("env") for s in secrets.values() if isinstance(s, Mapping)]
    return [v for v in (env.get(n) for n in names if isinstance(n, str)) if v]


@lru_cache(maxsize=64)
def masker_for(values: tuple[str, ...]) -> Masker:
    """A masker of these values only, cached (connectors mask the secrets they were handed per call)."""
    return Masker(values)
