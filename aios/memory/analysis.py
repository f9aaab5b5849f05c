"""Text analysis: the two analyzers the index uses, and how free query text is split into terms and
phrases without ever reaching a query parser.

- ``aios_en`` (title, body): words, lowercased, ASCII-folded, English stop words removed, Snowball
  English stemming. Ranking runs on this.
- ``aios_words`` (words): the same words unstemmed and without stop-word removal. Typo tolerance runs
  on this field: a misspelling is closer to the written word (``pricng`` → ``pricing``, distance 1)
  than to its stem (``price``, distance 2).

Queries additionally drop question words (``what``, ``how``, ``does`` …): people phrase searches as
questions, and those words carry no topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["STEMMED", "WORDS", "QUESTION_WORDS", "ParsedText", "parse_text", "analyzers"]

STEMMED = "aios_en"
WORDS = "aios_words"

QUESTION_WORDS = frozenset({
    "what", "which", "who", "whom", "whose", "why", "how", "when", "where", "is", "are", "was",
    "were", "be", "been", "being", "do", "does", "did", "can", "could", "should", "would", "may",
    "might", "will", "shall", "must", "there", "any", "some", "has", "have", "had"
})

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_QUOTED = re.compile(r'"([^"]*)"')


@dataclass(frozen=True, slots=True)
class ParsedText:
    words: tuple[str, ...]  # lowercased words outside quotes, question words dropped, in order
    phrases: tuple[str, ...]  # the text of each quoted part that has at least two words

    @property
    def empty(self) -> bool:
        return not self.words and not self.phrases


def parse_text(text: str) -> ParsedText:
    """Split user text into loose words and quoted phrases. Total: any string is accepted.

    An unbalanced quote is ignored. A quoted single word is a plain word. Question words are kept
    when they are all there is (a search for ``who`` still searches for something).
    """
    phrases: list[str] = []
    loose: list[str] = []
    pos = 0
    for m in _QUOTED.finditer(text):
        loose.append(text[pos:m.start()])
        inner = _WORD.findall(m.group(1).lower())
        if len(inner) >= 2:
            phrases.append(" ".join(inner))
        else:
            loose.extend(inner)
        pos = m.end()
    loose.append(text[pos:])
    words = [w for chunk in loose for w in _WORD.findall(chunk.replace('"', " ").lower())]
    kept = [w for w in words if w not in QUESTION_WORDS]
    return ParsedText(tuple(kept if kept or phrases else words), tuple(phrases))


def analyzers() -> dict[str, Any]:
    """Build the tantivy analyzers (imports tantivy; called by the index adapter only)."""
    from tantivy import Filter, TextAnalyzerBuilder, Tokenizer

    stemmed = (
        TextAnalyzerBuilder(Tokenizer.simple())
        .filter(Filter.remove_long(40))
        .filter(Filter.lowercase())
        .filter(Filter.ascii_fold())
        .filter(Filter.stopword("english"))
        .filter(Filter.stemmer("english"))
        .build()
    )
    words = (
        TextAnalyzerBuilder(Tokenizer.simple())
        .filter(Filter.remove_long(40))
        .filter(Filter.lowercase())
        .filter(Filter.ascii_fold())
        .build()
    )
    return {STEMMED: stemmed, WORDS: words}
