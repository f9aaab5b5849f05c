"""Snippets: the window of a document's text that holds the most distinct query words.

Matching is by word prefix on the query's written words and their stems (``pressur`` matches
"pressure", ``pricing`` matches "pricing"), with a regular expression over the stored text. That is
an order of magnitude cheaper than re-analyzing every hit, and a snippet only has to show the
reader why a hit matched, not rank it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["SnippetMaker", "lead"]


def lead(text: str, limit: int) -> str:
    """The start of ``text``, cut at a word boundary."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[:cut if cut > limit // 2 else limit] + " …"


class SnippetMaker:
    def __init__(self, words: Iterable[str], max_chars: int = 200) -> None:
        keys = sorted({w.lower() for w in words if len(w) >= 2}, key=len, reverse=True)
        # A trailing "i" of a stem stands for "y" too ("boundari" -> "boundary").
        alts = [re.escape(k[:-1]) + "[iy]" if k.endswith("i") and len(k) > 3 else re.escape(k) for k in keys]
        self._pattern = re.compile(r"\b(?:" + "|".join(alts) + r")", re.IGNORECASE) if alts else None
        self.max_chars = max_chars

    def make(self, text: str) -> str:
        text = " ".join(text.split())
        if self._pattern is None or len(text) <= self.max_chars:
            return lead(text, self.max_chars)
        found = [(m.start(), m.group(0).lower()) for m in self._pattern.finditer(text)]
        if not found:
            return lead(text, self.max_chars)
        width = self.max_chars - 40  # room for context before the first match
        best_start, best_key = found[0][0], (0, 0)
        j = 0
        for i, (pos, _) in enumerate(found):
            if j < i:
                j = i
            while j + 1 < len(found) and found[j + 1][0] - pos <= width:
                j += 1
            window = found[i:j + 1]
            key = (len({w for _, w in window}), len(window))
            if key > best_key:
                best_key, best_start = key, pos
        start = max(0, best_start - 40)
        if start > 0:
            space = text.find(" ", start)
            start = space + 1 if 0 <= space < best_start else start
        end = min(len(text), start + self.max_chars)
        if end < len(text):
            space = text.rfind(" ", start, end)
            end = space if space > start + self.max_chars // 2 else end
        return ("… " if start > 0 else "") + text[start:end] + (" …" if end < len(text) else "")
