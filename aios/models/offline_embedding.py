"""The offline embedding: a deterministic lexical sketch, not a language model.

Each text becomes a fixed-size vector by feature hashing (the "hashing trick"): its words are folded
to lower-case ASCII, English stop words dropped, lightly stemmed (plural and ``-ing``/``-ed``
endings, a final ``e``), and every stem and every character trigram of the unstemmed words is
hashed (CRC-32) to one of ``DIMS`` dimensions with a sign, weighted by ``1 + log(tf)`` (a word's
trigrams share half of its weight), and the sum is L2-normalised.

What it captures: shared words and shared word parts (``aerodynamic`` / ``aerodynamics`` /
``aerodynamical``, some misspellings), independent of word order. What it does not: synonyms, or
anything a word's letters do not show. It needs no network, no weights and no third-party package,
and the same text gives the same vector on every machine and Python version.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["DIMS", "MODEL_ID", "embed_offline", "features"]

DIMS = 1024
MODEL_ID = f"offline/hash-v1-{DIMS}"  # stored with the vectors: a change of method re-embeds everything

_WORD = re.compile(r"[a-z0-9]+")
_GRAM_SHARE = 0.5  # a word's trigrams together weigh half as much as its stem
_STOP = frozenset([
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
    "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few",
    "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers",
    "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
    "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on",
    "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves",
    "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until",
    "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
    "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves"
])


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _stem(word: str) -> str:
    """A light English stemmer: enough to bring inflections together, never more than a few letters."""
    w = word
    if len(w) > 4 and w.endswith("ies") and not w.endswith(("eies", "aies")):
        w = w[:-3] + "y"
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("us", "ss", "is")):
        w = w[:-1]  # "pumps" -> "pump", "houses" -> "house" (and then "hous", below)
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            w = w[:-len(suffix)]
            if len(w) > 4 and w[-1] == w[-2] and w[-1] not in "lsz":  # "stopped" -> "stop"
                w = w[:-1]
            break
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(_fold(text)) if w not in _STOP and (len(w) > 1 or w.isdigit())]


def features(text: str) -> dict[str, float]:
    """The weighted features of ``text`` before hashing (``w:`` stems, ``g:`` trigrams)."""
    words = Counter(_words(text))
    out: dict[str, float] = {}
    for word, tf in words.items():
        weight = 1.0 + math.log(tf)
        key = "w:" + _stem(word)
        out[key] = out.get(key, 0.0) + weight
        padded = f"<{word}>"
        grams = [padded[i:i + 3] for i in range(len(padded) - 2)]
        share = weight * _GRAM_SHARE / math.sqrt(len(grams))  # the trigram part has norm weight/2
        for gram in grams:
            gkey = "g:" + gram
            out[gkey] = out.get(gkey, 0.0) + share
    return out


def _vector(feats: Iterable[tuple[str, float]], dims: int) -> list[float]:
    vec = [0.0] * dims
    for key, weight in feats:
        h = zlib.crc32(key.encode("utf-8"))
        vec[h % dims] += weight if h & 0x80000000 else -weight
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec] if norm > 0 else vec


def embed_offline(texts: Sequence[str], dims: int = DIMS) -> list[list[float]]:
    """One unit-length vector per text (all zeros for a text without words)."""
    return [_vector(features(t).items(), dims) for t in texts]
