"""The masking rule (aios.masking): which forms of a secret are masked, which ordinary text is left
alone, that masked JSON stays JSON, and that the state store masks every write. The end-to-end
canary over every route is tests/runtime/test_secret_canary.py."""

from __future__ import annotations

import base64
import json
import random
import sqlite3
import string
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aios import masking
from aios.connectors.api import mask_secrets
from aios.masking import MASK, Masker

KEY = "sk-proj-" + "Q7vX2mLp9RtB4nW8cY1zK6hJ3dF5gS0a"
QUOTED = 'pa"ss\\word-' + "9a8b7c6d5e4f"
SHORT = "pin-42x"  # under 12 characters: masked whole, never by runs
M = Masker([KEY, QUOTED, SHORT])


def _esc(text: str) -> str:
    """JSON-escaped, as inside a JSON string."""
    return json.dumps(text)[1:-1]


@pytest.mark.parametrize("secret", [KEY, QUOTED, SHORT])
@pytest.mark.parametrize("form", [
    lambda s: s,
    lambda s: json.dumps(s)[1:-1],
    lambda s: _esc(_esc(s)),
    lambda s: _esc(_esc(_esc(s))),
    lambda s: json.dumps(s, ensure_ascii=True)[1:-1],
    lambda s: repr(s)[1:-1],
    lambda s: quote(s, safe=""),
    lambda s: quote(s),
    lambda s: quote_plus(s),
    lambda s: base64.b64encode(s.encode()).decode(),
    lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
], ids=["raw", "json", "json2", "json3", "json-ascii", "repr", "quote", "quote-slash", "quote-plus", "b64", "b64url"])
def test_every_form_is_masked_whole(secret: str, form: object) -> None:
    text = form(secret)  # type: ignore[operator]
    masked = M.mask(f"before {text} after")
    assert masked == f"before {MASK} after", (text, masked)


@pytest.mark.parametrize("prefix", [b"", b"u", b"us", b"user:", b"ada:"])
@pytest.mark.parametrize("enc", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_inside_a_longer_encoding_at_every_alignment(prefix: bytes, enc: object) -> None:
    for secret in (KEY, QUOTED):
        encoded = enc(prefix + secret.encode() + b"!tail").decode()  # type: ignore[operator]
        masked = M.mask(encoded)
        assert MASK in masked
        # at most the 3 characters mixing secret and neighbour bits are left on either side
        left, _, right = masked.partition(MASK)
        assert len(left) <= len(prefix) // 3 * 4 + 3 and len(right) <= 12, masked


def test_runs_of_eight_or_more_characters_of_a_long_secret_are_masked() -> None:
    for i in range(len(KEY) - 8):
        for n in (8, 11, 20):
            part = KEY[i:i + n]
            if len(part) >= 8:
                assert M.mask(f"key {part}… cut") == f"key {MASK}… cut", part
    assert M.mask(f"x{KEY[:7]}y") == f"x{KEY[:7]}y"  # 7 characters: left alone
    escaped = json.dumps(QUOTED)[1:-1]
    assert M.mask(escaped[2:12]) == MASK  # a run of an escaped form


def test_short_secrets_are_masked_whole_only() -> None:
    assert M.mask("your pin-42x is set") == f"your {MASK} is set"
    assert M.mask("pin-42 and in-42x") == "pin-42 and in-42x"
    assert Masker(["abc"]).mask("abc abc") == "abc abc"  # under 4 characters: not a secret worth masking


def test_ordinary_text_is_left_alone() -> None:
    rnd = random.Random(7)
    words = ["the", "order", "was", "placed", "sk-proj", "password", "Bearer", "token", "9a8b", "pass"]
    for _ in range(300):
        text = " ".join(rnd.choice(words) for _ in range(30))
        assert M.mask(text) == text  # (the quick test may say "maybe": "9a8b", "pass" are in the secrets)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable + "é\"\\", max_size=200))
def test_masking_is_idempotent_and_a_no_op_without_secrets(text: str) -> None:
    once = M.mask(text + KEY[3:20] + text)
    assert M.mask(once) == once and KEY[3:20] not in once
    assert Masker().mask(text) == text


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(alphabet="ab\"\\é-" + KEY[:12]),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                    max_leaves=12))
def test_masked_json_stays_json(value: object) -> None:
    data = {"v": value, "leak": f"echo {QUOTED} and {KEY[:10]}"}
    for text in (json.dumps(data), json.dumps(data, ensure_ascii=True), json.dumps(json.dumps(data))):
        json.loads(M.mask(text))  # masked as text (the CLI): still parses
        out = M.mask_json(text)
        json.loads(out)
        assert QUOTED not in out and KEY[:10] not in out


def test_mask_secrets_delegates() -> None:
    body = {"error": json.dumps({"t": QUOTED}), "h": [quote_plus(QUOTED)], "n": 3}
    assert mask_secrets(body, [QUOTED]) == {"error": json.dumps({"t": MASK}), "h": [MASK], "n": 3}
    assert mask_secrets("abc", []) == "abc"


def test_the_store_masks_every_write(tmp_path: Path) -> None:
    from aios.runtime import alerts, log
    from aios.runtime.store import Store

    secret = "st0re-canary-" + "".join(random.choice(string.ascii_letters) for _ in range(20))
    masking.watch([secret])
    with Store.open(tmp_path) as store:
        with store.transaction() as conn:
            alerts.raise_alert(conn, run_id="r", step_id=None, severity=alerts.Severity.INFO,
                               message=f"failed: {secret}", at=log.now_iso())
            log.append(store.cursor, [("r", "s", "step.failed", {"error": json.dumps({"k": secret}),
                                                                 secret: [quote(secret)]})])
            conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", [("k1", f"x{secret[2:14]}y")])
            conn.execute("INSERT INTO meta(key, value) VALUES (:k, :v)", {"k": "k2", "v": secret})
        assert log.verify(store.conn).ok
        dump = "\n".join(store.conn.iterdump())
    assert "***" in dump and secret not in dump and secret[2:14] not in dump
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert secret.encode() not in raw and quote(secret).encode() not in raw
    with sqlite3.connect(tmp_path / "state.db") as plain:  # reads are untouched
        assert plain.execute("SELECT value FROM meta WHERE key = 'k2'").fetchone()[0] == MASK
