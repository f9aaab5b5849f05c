"""The offline model stays linear in its input: one long token (no spaces) must not hang it.

`re.sub(r"\\S+@\\S+|\\w+://\\S+", …)` and `re.search(r"[\\w.+-]+@…")` backtrack over every start position of
a token, which is quadratic: 32k characters took seconds and 256k did not finish. The replacements
must give exactly the same results on ordinary text; the regexes themselves are the reference here.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import textwrap

import pytest

from aios.models.offline import _find_email, _strip_addresses

_OLD_STRIP = re.compile(r"\S+@\S+|\w+://\S+")
_OLD_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")

SAMPLES = [
    "", "plain words only", "mail ada@fjord.example today", "see https://example.com/a?b=c now",
    "a@b", "@x", "x@", "@@x", "x@@", "@", "a@ b@c", "ftp://", "ftp://x", "x ftp://x y", "é://ü", "_://a",
    "-ab://c", "ab-cd://e", "hello,ada@x.example,bye", "(http://x.example)", "a:// b", "a://b@c",
    "tab\there@x\nnew://line", "über@straße.de", "x\u2003y@z\u00a0w://q", "a.b+c-d@e-f.g.h", "a@b.", "@b.c",
    "a@.b", "name@host.tld.", "a..b@c..d", "1@2.3", "x:y@z://w",
]

ALPHABET = "ab_1@:/.+- \t\néü\u00a0"


def _random_texts(n: int) -> list[str]:
    rng = random.Random(11)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 24))) for _ in range(n)]


@pytest.mark.parametrize("text", SAMPLES)
def test_stripping_addresses_matches_the_regex(text: str) -> None:
    assert _strip_addresses(text) == _OLD_STRIP.sub(" ", text)


def test_stripping_addresses_matches_the_regex_on_random_text() -> None:
    for text in _random_texts(4000):
        assert _strip_addresses(text) == _OLD_STRIP.sub(" ", text), repr(text)


def test_finding_an_email_matches_the_regex() -> None:
    for text in SAMPLES + _random_texts(4000):
        old = _OLD_EMAIL.search(text)
        assert _find_email(text) == (old.group(0) if old else None), repr(text)


CHILD = textwrap.dedent("""
    import sys
    from aios.models.offline import generate
    from aios.plan.types import FieldDef, FieldType, RecordType, TypeKind

    def word(i):
        letters = ""
        while True:
            i, r = divmod(i, 26)
            letters += chr(97 + r)
            if not i:
                return "qx" + letters

    if sys.argv[1] == "words":  # a mebibyte of distinct words
        token = " ".join(word(i) for i in range(150_000))
    else:
        token = sys.argv[1] * (1 << 20)
    fields = {"summary": FieldType(TypeKind.STR), "tags": FieldType(TypeKind.LIST, items=FieldType(TypeKind.STR)),
              "contact": FieldType(TypeKind.EMAIL), "title": FieldType(TypeKind.STR)}
    rt = RecordType("T", tuple(FieldDef(k, v, required=True) for k, v in fields.items()))
    out = generate(rt, {"message": token, "note": "ping ada@x.example via https://x.example/" + token[:1000]})
    assert out["contact"] == "ada@x.example", out["contact"]
    print("ok")
""")


@pytest.mark.parametrize("unit", ["a", "a@", "a:/", "é", "words"])
def test_a_one_mebibyte_token_does_not_hang(unit: str) -> None:
    """Should take milliseconds; the 20 s timeout only detects a hang."""
    proc = subprocess.run([sys.executable, "-c", CHILD, unit], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
