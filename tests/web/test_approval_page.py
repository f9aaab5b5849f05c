"""The single approval page, ``/approvals/ID``, and a notification's signed link landing on it:
redeemed once after login, then "already used"; forged and expired links are notices; the login
comes back to the page, and never redirects off the server."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from aios.notify.links import approval_link, make_token, server_key

from .conftest import Env


def _link(env: Env, nonce_from: str = "ntf-1", expires: int | None = None) -> str:
    url = approval_link(env.storage, "http://127.0.0.1", env.approval_id, nonce_from,
                        expires if expires is not None else int(time.time()) + 3600)
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_the_page_shows_what_will_happen_and_the_form(env: Env) -> None:
    c = env.login()
    r = c.get(f"/approvals/{env.approval_id}")
    assert r.status_code == 200, r.text
    assert "cms.publish" in r.text and env.run_id in r.text
    assert f'formaction="/approvals/{env.approval_id}/approve"' in r.text
    assert "link-notice" not in r.text
    api = c.get(f"/api/approvals/{env.approval_id}").json()
    assert api["link"] is None
    assert api["approval"]["id"] == env.approval_id and api["approval"]["may_decide"] is True
    assert api["approval"]["run"]["id"] == env.run_id and api["approval"]["so_far"]
    inbox = c.get("/api/approvals").json()["pending"]
    assert [i for i in inbox if i["id"] == env.approval_id] == [api["approval"]]  # the inbox's card
    assert c.get("/api/approvals/apv_nope").status_code == 404


def test_a_link_works_once_then_says_already_used(env: Env) -> None:
    c = env.login()
    link = _link(env)
    first = c.get(link)
    assert first.status_code == 200
    assert "Opened from a notification link" in first.text and "link-ok" in first.text
    again = c.get(link)
    assert again.status_code == 200
    assert "already used" in again.text and "link-used" in again.text
    assert f'formaction="/approvals/{env.approval_id}/approve"' in again.text  # the page still works
    api = c.get("/api" + link).json()
    assert api["link"]["status"] == "used"
    # another notification's link to the same approval is its own single use
    assert c.get("/api" + _link(env, "ntf-2")).json()["link"]["status"] == "ok"


def test_forged_and_expired_links_are_notices(env: Env) -> None:
    c = env.login()
    good = _link(env)
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    r = c.get(forged)
    assert r.status_code == 200 and "not valid" in r.text and "link-forged" in r.text
    other_key = make_token(b"k" * 32, env.approval_id, int(time.time()) + 3600, "n1")
    assert c.get(f"/api/approvals/{env.approval_id}?t={other_key}").json()["link"]["status"] == "forged"
    assert c.get(f"/api/approvals/{env.approval_id}?t=garbage").json()["link"]["status"] == "forged"
    expired = make_token(server_key(env.storage), env.approval_id, int(time.time()) - 60, "n2")
    r = c.get(f"/approvals/{env.approval_id}?t={expired}")
    assert r.status_code == 200 and "expired" in r.text and "link-expired" in r.text
    assert "Opened from a notification link" not in r.text
    # the forged link did not use up the real one
    assert c.get("/api" + good).json()["link"]["status"] == "ok"


def test_a_link_for_another_approval_is_refused(env: Env) -> None:
    out = env.start("lead-2")
    assert out.approval is not None
    link = approval_link(env.storage, "http://127.0.0.1", out.approval.id, "ntf-3", int(time.time()) + 3600)
    token = urlsplit(link).query.removeprefix("t=")
    c = env.login()
    assert c.get(f"/api/approvals/{env.approval_id}?t={token}").json()["link"]["status"] == "forged"
    assert c.get(f"/api/approvals/{out.approval.id}?t={token}").json()["link"]["status"] == "ok"


def test_unauthenticated_goes_to_login_and_back_to_the_page(env: Env) -> None:
    c = env.client()
    link = _link(env)
    r = c.get(link)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert c.get("/api" + link).status_code == 401
    login = c.get(r.headers["location"])
    assert f'name="next" value="{link}"' in login.text.replace("&amp;", "&")
    back = c.post("/login", data={"token": env.token, "csrf_token": c.cookies["aios_csrf"], "next": link})
    assert back.status_code == 303 and back.headers["location"] == link
    landed = c.get(back.headers["location"])
    assert "Opened from a notification link" in landed.text  # not used up by the trip through the login


def test_a_decided_approval_shows_its_decision_and_no_form(env: Env) -> None:
    c = env.login()
    r = c.post(f"/approvals/{env.approval_id}/reject", data={"csrf_token": c.cookies["aios_csrf"], "note": "no"})
    assert r.status_code == 303
    page = c.get(f"/approvals/{env.approval_id}")
    assert page.status_code == 200 and "Rejected by operator" in page.text
    assert "formaction=" not in page.text


def test_the_login_never_redirects_off_the_server(env: Env) -> None:
    c = env.client()
    for evil in ("//evil.example", "https://evil.example/", "/\\evil.example", "\\\\evil.example",
                 "/\t/evil.example", "evil.example", "///evil.example"):
        form = c.get("/login", params={"next": evil})
        assert 'name="next" value="/runs"' in form.text, evil
        r = c.post("/login", data={"token": env.token, "csrf_token": c.cookies["aios_csrf"], "next": evil})
        assert r.status_code == 303 and r.headers["location"] == "/runs", (evil, r.headers["location"])
    ok = c.post("/login", data={"token": env.token, "csrf_token": c.cookies["aios_csrf"],
                                "next": "/approvals?x=1"})
    assert ok.headers["location"] == "/approvals?x=1"
