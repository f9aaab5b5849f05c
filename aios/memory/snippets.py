"""Snippets: the window of a document's text that holds the most distinct query words.

Matching is by word prefix on the query's stems (``pressur`` matches "pressure", ``price`` matches
"prices"), with ``str.find`` over the lowered stored text. That is an order of magnitude cheaper than
re-analyzing every hit, and a snippet only has to show the reader why a hit matched, not rank it.
"""

from __future__ import annotations

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
        self.keys = sorted({w.lower() for w in words if len(w) >= 2}, key=len, reverse=True)
        self.max_chars = max_chars

    def _matches(self, text: str) -> list[tuple[int, str]]:
        """(offset, key) of every word in ``text`` that starts with a key (a stem's final ``i`` also
        matching ``y``: "boundari" → "boundary"), found with ``str.find`` on the lowered text."""
        low = text.lower()
        if len(low) != len(text):  # a rare case-mapping changed the length: offsets would drift
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        found: dict[int, str] = {}
        for key in self.keys:
            probe = key[:-1] if key.endswith("i") and len(key) > 3 else key
            i = low.find(probe)
            while i >= 0:
                if (i == 0 or not low[i - 1].isalnum()) and i not in found and \
                        (probe is key or low[i + len(probe):i + len(probe) + 1] in ("i", "y")):
                    found[i] = key
                i = low.find(probe, i + 1)
        return sorted(found.items())

    def make(self, text: str) -> str:
        text = " ".join(text.split())
        if not self.keys or len(text) <= self.max_chars:
            return lead(text, self.max_chars)
        found = self._matches(text)
        if not found:
            return lead(text, self.max_chars)
        width = self.max_chars - 40  # room for context before the first match
        best_start, best_key = found[0][0], (0, 0)
        counts: dict[str, int] = {}
        j = 0  # the window is found[i:j]
        for pos, key in found:
            while j < len(found) and found[j][0] - pos <= width:
                counts[found[j][1]] = counts.get(found[j][1], 0) + 1
                j += 1
            score = (len(counts), sum(counts.values()))
            if score > best_key:
                best_key, best_start = score, pos
            counts[key] -= 1
            if not counts[key]:
                del counts[key]
        start = max(0, best_start - 40)
        if start > 0:
            space = text.find(" ", start)
            start = space + 1 if 0 <= space < best_start else start
        end = min(len(text), start + self.max_chars)
        if end < len(text):
            space = text.rfind(" ", start, end)
            end = space if space > start + self.max_chars // 2 else end
        return ("… " if start > 0 else "") + text[start:end] + (" …" if end < len(text) else "")
