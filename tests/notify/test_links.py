"""The signed, single-use, expiring link in an approval notification."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from aios.compiler import compile_workspace
from aios.notify.links import KEY_FILE, LinkRefused, make_token, redeem_link
from aios.notify.sender import Sender
from aios.runtime.interpreter import Runtime
from tests.connectors.servers import HttpTarget, SmtpTarget

from .workspace import write_workspace

pytestmark = pytest.mark.usefixtures("secrets_env")


def _linked(tmp_path: Path, smtp: SmtpTarget, http: HttpTarget) -> tuple[Runtime, str, str]:
    ws = write_workspace(tmp_path / "ws", smtp_port=smtp.port, hook_url=http.url("/notify"),
                         base_url="https://aios.example/")
    result = compile_workspace(ws)
    assert result.plan is not None
    rt = Runtime(result.plan, ws)
    out = rt.start("notes", {"type": "webhook.intake", "id": "evt-1", "payload": {"title": "t"}})
    assert out.approval is not None
    Sender(rt).flush()
    body = smtp.transmissions[0].get_payload(decode=True).decode()
    match = re.search(r"(https://aios\.example/approvals/\S+)", body)
    assert match, body
    return rt, out.approval.id, match.group(1)


def test_the_link_works_once_and_then_refuses(tmp_path: Path, smtp: SmtpTarget, http: HttpTarget) -> None:
    rt, approval, url = _linked(tmp_path, smtp, http)
    parsed = urlparse(url)
    assert parsed.path == f"/approvals/{approval}"
    token = parse_qs(parsed.query)["t"][0]
    assert redeem_link(rt.store, token, approval_id=approval) == approval
    with pytest.raises(LinkRefused) as err:
        redeem_link(rt.store, token, approval_id=approval)
    assert err.value.reason == "used"
    # the webhook carries its own link (another nonce): it works once too
    hook_url = http.requests[0].body["url"]
    hook_token = parse_qs(urlparse(hook_url).query)["t"][0]
    assert hook_token != token
    assert redeem_link(rt.store, hook_token) == approval
    with pytest.raises(LinkRefused):
        redeem_link(rt.store, hook_token)


def test_forged_tampered_and_expired_links_are_refused(tmp_path: Path, smtp: SmtpTarget, http: HttpTarget) -> None:
    rt, approval, url = _linked(tmp_path, smtp, http)
    token = parse_qs(urlparse(url).query)["t"][0]
    payload, sig = token.split(".")
    with pytest.raises(LinkRefused) as err:
        redeem_link(rt.store, make_token(b"not-the-server-key", approval, int(time.time()) + 3600, "n1"))
    assert err.value.reason == "forged"
    with pytest.raises(LinkRefused) as err:
        redeem_link(rt.store, payload + "." + sig[:-2] + ("AA" if not sig.endswith("AA") else "BB"))
    assert err.value.reason == "forged"
    with pytest.raises(LinkRefused) as err:
        redeem_link(rt.store, token, approval_id="apv_other")
    assert err.value.reason == "forged"
    with pytest.raises(LinkRefused) as err:  # the approval times out in 2 days: so does its link
        redeem_link(rt.store, token, now=time.time() + 3 * 24 * 3600)
    assert err.value.reason == "expired"
    with pytest.raises(LinkRefused):
        redeem_link(rt.store, "garbage")
    assert redeem_link(rt.store, token) == approval  # none of the refusals used it up
    key = (rt.storage_dir / KEY_FILE)
    assert key.stat().st_mode & 0o077 == 0
