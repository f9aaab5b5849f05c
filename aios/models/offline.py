"""The embedded offline model: deterministic output that satisfies the step's output schema.

No network, no key, no randomness: the same input always gives the same output. Each field is taken
from the input when a field of the same name (or ``name_id``) with a fitting value is there;
otherwise it is synthesised from the input's text and a hash of the input, by field type and name
(a ``title`` gets a short headline, a ``body`` the input's text, an enum a value the input mentions).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, timedelta
from typing import Any

from aios.plan.types import FieldDef, FieldType, RecordType, TypeKind
from aios.runtime.validation import check_value

__all__ = ["generate", "count_tokens"]

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_STOP = frozenset(["the", "and", "for", "with", "that", "this", "from", "have", "will", "your", "you", "are", "was", "were", "been", "into", "about", "their", "there", "they", "them", "then", "than", "what", "when", "which", "who", "how", "our", "out", "can", "not", "but", "all", "any", "its", "also", "just", "more", "most", "some", "such", "very", "would", "could", "should", "please", "thanks", "hello", "dear", "need", "want", "like", "make"])
_DANGLING = frozenset(["a", "an", "the", "of", "to", "for", "and", "or", "our", "your", "their", "with", "in", "on", "at", "by", "from", "as", "is", "are"])
_TITLE_NAMES = ("title", "name", "subject", "headline", "heading", "label")
_LONG_NAMES = ("body", "content", "draft", "text", "article", "reply", "response", "message", "answer")
_SHORT_NAMES = ("summary", "brief", "description", "notes", "note", "reason", "rationale", "abstract")


def _digest(*parts: str) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\x1f")
    return h.digest()


def _norm(name: str) -> str:
    return name.lower().replace("-", "_")


_KEY_RANK = {**{k: 0 for k in _TITLE_NAMES}, **{k: 1 for k in _SHORT_NAMES}, **{k: 2 for k in _LONG_NAMES}}


def _index(value: Any, out: dict[str, Any], texts: list[str], depth: int = 0, keys: bool = True) -> None:
    """Breadth-first: a top-level key wins over a nested one of the same name. Texts come in order
    of how telling their key is (titles, then summaries, then bodies, then the rest), nested last."""
    if depth > 6:
        return
    if isinstance(value, dict):
        if keys and depth <= 1:  # fields come from the input object or one object level down, not lists
            for k, v in value.items():
                out.setdefault(_norm(str(k)), v)
        ranked = sorted(value.items(), key=lambda kv: _KEY_RANK.get(_norm(str(kv[0])), 3))
        for _, v in ranked:
            if isinstance(v, str) and v.strip():
                texts.append(v.strip())
        for _, v in ranked:
            if not isinstance(v, str):
                _index(v, out, texts, depth + 1, keys)
    elif isinstance(value, list):
        for v in value[:50]:
            if isinstance(v, str) and v.strip():
                texts.append(v.strip())
            else:
                _index(v, out, texts, depth + 1, False)
    elif isinstance(value, str) and value.strip():
        texts.append(value.strip())


def _slug(text: str, limit: int = 60) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(s) > limit:
        s = s[:limit].rsplit("-", 1)[0]
    return s.strip("-") or "item"


_SPACE_SPLIT = re.compile(r"(\s+)")
_URL_AT_RUN_START = re.compile(r"(?<!\w)\w+://\S")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+")


def _strip_addresses(text: str) -> str:
    """``re.sub(r"\\S+@\\S+|\\w+://\\S+", " ", text)`` in linear time.

    That regex backtracks over every start position of a long token (quadratic). Neither alternative
    crosses whitespace, so each token is looked at once: an ``@`` with a character on each side makes
    the whole token an address; otherwise a word run followed by ``://`` and one more character
    starts a URL, which runs to the token's end. The lookbehind tries ``\\w+`` only where a word run
    starts, which keeps that search linear too.
    """
    parts = _SPACE_SPLIT.split(text)
    for i in range(0, len(parts), 2):  # even indexes are the tokens between runs of whitespace
        token = parts[i]
        if "@" in token[1:-1]:
            parts[i] = " "
            continue
        m = _URL_AT_RUN_START.search(token)
        if m is not None:
            parts[i] = token[: m.start()] + " "
    return "".join(parts)


def _find_email(text: str) -> str | None:
    """The first ``[\\w.+-]+@[\\w-]+\\.[\\w.-]+`` in ``text``, searched from the starts of runs only (a
    match inside a run also matches from the run's start, which is found first), so it is linear."""
    m = _EMAIL.search(text)
    return m.group(0) if m else None


def _keywords(texts: list[str], n: int) -> list[str]:
    counts: dict[str, int] = {}
    order: list[str] = []
    for t in texts:
        for w in _WORD.findall(_strip_addresses(t)):
            lw = w.lower()
            if lw in _STOP:
                continue
            if lw not in counts:
                order.append(lw)
            counts[lw] = counts.get(lw, 0) + 1
    ranked = sorted(order, key=lambda w: -counts[w])  # stable: ties keep the order words were first seen
    return ranked[:n]


def _headline(texts: list[str], h: bytes, titled: str | None = None) -> str:
    if titled:
        return titled
    source = max(texts, key=len) if texts else ""
    source = re.split(r"(?<=[.!?])\s", source, maxsplit=1)[0]
    words = source.split()[:10]
    while len(words) > 3 and words[-1].lower().strip(".,;:") in _DANGLING:
        words.pop()
    if not words:
        return f"Item {h.hex()[:6]}"
    line = " ".join(words).rstrip(".,;:")
    return line[:1].upper() + line[1:]


def _text(name: str, texts: list[str], h: bytes, titled: str | None = None) -> str:
    n = _norm(name)
    if any(n == t or n.endswith("_" + t) for t in _TITLE_NAMES):
        return _headline(texts, h)
    if n == "slug" or n.endswith("_slug"):
        return _slug(_headline(texts, h, titled))
    if n == "id" or n.endswith("_id"):
        return f"{n.removesuffix('_id') or 'id'}-{h.hex()[:10]}"
    if any(n == t or n.endswith("_" + t) for t in _LONG_NAMES):
        head = _headline(texts, h, titled)
        rest = " ".join(t for t in texts if t != head)
        body = "\n\n".join(p for p in rest[:1200].split("\n\n") if p.strip()) or "(no input text)"
        return f"{head}\n\n{body}"
    if any(n == t or n.endswith("_" + t) for t in _SHORT_NAMES):
        if not texts:
            return f"{name} {h.hex()[:8]}"
        longest = max(texts, key=len)
        first = re.split(r"(?<=[.!?])\s", longest, maxsplit=1)[0][:240]
        keys = ", ".join(_keywords(texts[:3], 5))
        return first + (f" Key points: {keys}." if keys else "")
    if texts:
        return texts[0][:120]
    return f"{name}-{h.hex()[:8]}"


def _synth(f_name: str, t: FieldType, texts: list[str], h: bytes, titled: str | None = None) -> Any:
    num = int.from_bytes(h[:8], "big")
    k = t.kind
    if k is TypeKind.STR:
        return _text(f_name, texts, h, titled)
    if k is TypeKind.INT:
        return num % 100 + 1
    if k is TypeKind.DECIMAL:
        return round((num % 100000) / 100, 2)
    if k is TypeKind.BOOL:
        return bool(num & 1)
    if k in (TypeKind.DATE, TypeKind.DATETIME):
        d = date(2025, 1, 1) + timedelta(days=num % 365)
        return d.isoformat() if k is TypeKind.DATE else f"{d.isoformat()}T09:00:00Z"
    if k is TypeKind.EMAIL:
        for text in texts:
            found = _find_email(text)
            if found:
                return found
        return f"{_slug(f_name)}-{h.hex()[:6]}@example.com"
    if k is TypeKind.URL:
        return f"https://example.com/{_slug(_headline(texts, h, titled))}"
    if k is TypeKind.ENUM:
        lowered = " ".join(texts).lower()
        for v in t.values:
            if re.search(rf"\b{re.escape(v.lower())}\b", lowered):
                return v
        return t.values[num % len(t.values)]
    if k is TypeKind.REF:
        return f"{(t.ref or 'ref').lower()}-{h.hex()[:10]}"
    if k is TypeKind.LIST:
        item = t.items or FieldType(TypeKind.STR)
        if item.kind is TypeKind.STR:
            words = _keywords(texts[:3], 3) or _keywords(texts, 3)
            return words or [f"{f_name}-{h.hex()[:6]}"]
        return [_synth(f_name, item, texts, _digest(h.hex(), "0"))]
    if k is TypeKind.OBJECT:
        return {}
    return None  # any


def _pick(f: FieldDef, index: dict[str, Any]) -> tuple[bool, Any]:
    names = [_norm(f.name)]
    if f.type.kind is TypeKind.REF:
        names.append(_norm(f.name) + "_id")
    for n in names:
        if n in index:
            v = index[n]
            if f.type.kind is TypeKind.STR and isinstance(v, (int, float)) and not isinstance(v, bool):
                v = str(v)
            if v is not None and not check_value(f.type, v, f.name):
                return True, v
    return False, None


def generate(schema: RecordType | None, input_value: Any, prompt: str = "") -> Any:
    """The output for ``input_value``: a dict matching ``schema``, or a text when there is none."""
    canonical = json.dumps(input_value, sort_keys=True, default=str, ensure_ascii=False)
    index: dict[str, Any] = {}
    texts: list[str] = []
    _index(input_value, index, texts)
    if not texts and prompt.strip():
        texts.append(prompt.strip())
    if schema is None:
        h = _digest("text", canonical)
        return _text("body", texts, h)
    out: dict[str, Any] = {}
    titled = next((index[k] for k in _TITLE_NAMES[:1] if isinstance(index.get(k), str) and index[k].strip()), None)
    for f in schema.fields:
        found, value = _pick(f, index)
        if not found:
            value = _synth(f.name, f.type, texts, _digest(schema.name, f.name, canonical), titled)
        if value is None and not f.type.optional and f.type.kind is TypeKind.ANY:
            value = input_value
        out[f.name] = value
    counted = next((out[n] for n in ("body", "content", "text") if isinstance(out.get(n), str)), None)
    if counted is not None and "word_count" in out and isinstance(out["word_count"], int):
        out["word_count"] = len(counted.split())
    return out


def count_tokens(text: str) -> int:
    """A rough, deterministic token count (about four characters per token)."""
    return max(1, (len(text) + 3) // 4) if text else 0
