"""The indefinite article before a name or word in a message: "an `Invoice`", "an irreversible side
effect", "a `User`". Messages built from names choose it here, not with a fixed "a"."""

from __future__ import annotations

__all__ = ["indefinite", "a_or_an"]

_YOU_SOUND = ("uni", "use", "usa", "usu", "uti", "uri", "url", "uuid", "eu", "one", "once")
_SILENT_H = ("hour", "honest", "honor", "honour", "heir")
_VOWEL_LETTERS = set("AEFHILMNORSX")  # letters spelled out with a vowel sound: an HTTP, an SMS, an ID


def indefinite(word: str) -> str:
    """``a`` or ``an`` for ``word`` (backticks and quotes around it are ignored)."""
    bare = word.strip("`'\"*_ ")
    if not bare:
        return "a"
    head = bare.split()[0].split("_")[0].split("-")[0]
    if len(head) > 1 and head.isupper() and head.isalpha() and not any(c in "AEIOU" for c in head[1:]):
        return "an" if head[0] in _VOWEL_LETTERS else "a"  # an acronym, read letter by letter
    lower = bare.lower()
    if lower.startswith(_SILENT_H):
        return "an"
    if lower.startswith(_YOU_SOUND):
        return "a"
    return "an" if lower[0] in "aeiou" else "a"


def a_or_an(word: str) -> str:
    """``word`` with its article: ``a_or_an("`Invoice`")`` -> ``an `Invoice```."""
    return f"{indefinite(word)} {word}"
