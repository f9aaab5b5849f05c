"""Login, sessions, Bearer tokens, the login rate limit, and CSRF, through the app in-process."""

from __future__ import annotations

import sqlite3

from .conftest import Env


def test_pages_redirect_to_login_and_the_api_answers_401_without_credentials(env: Env) -> None:
    c = env.client()
    r = c.get("/runs")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fruns"
    for path in ("/api/runs", f"/api/runs/{env.run_id}", "/api/approvals", "/api/alerts", "/events"):
        assert c.get(path).status_code == 401, path
    assert c.get("/api/runs", headers={"Authorization": "Bearer aios_not-a-token"}).status_code == 401
    assert c.get("/api/runs", headers={"Authorization": f"Basic {env.token}"}).status_code == 401
    r = c.post(f"/api/approvals/{env.approval_id}/approve", json={"note": "x"})
    assert r.status_code == 401
    assert c.get("/login").status_code == 200 and c.get("/static/htmx.min.js").status_code == 200


def test_login_sets_a_strict_httponly_session_that_ends_when_the_token_is_revoked(env: Env) -> None:
    c = env.client()
    c.get("/login")
    r = c.post("/login", data={"token": "aios_wrong", "csrf_token": c.cookies["aios_csrf"]})
    assert r.status_code == 401 and "Unknown or revoked token" in r.text
    r = c.post("/login", data={"token": env.token, "csrf_token": c.cookies["aios_csrf"], "next": "/approvals"})
    assert r.status_code == 303 and r.headers["location"] == "/approvals"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("aios_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert env.token not in cookie
    page = c.get("/runs")
    assert page.status_code == 200 and "operator" in page.text
    from aios.web.tokens import TokenStore

    with TokenStore(env.storage) as store:
        store.revoke("ops")
    assert c.get("/runs").status_code == 303
    assert c.get("/api/runs", headers={"Authorization": f"Bearer {env.token}"}).status_code == 401


def test_a_forged_or_expired_session_cookie_is_refused(env: Env) -> None:
    c = env.login()
    value = c.cookies["aios_session"]
    payload, _, mac = value.partition(".")
    c.cookies.set("aios_session", payload + "." + ("0" if mac[0] != "0" else "1") + mac[1:])
    assert c.get("/api/runs").status_code == 401
    from aios.web.auth import SessionSigner
    from aios.web.tokens import TokenStore, server_key

    with TokenStore(env.storage) as store:
        token_id = store.listing()[0].id
    expired = SessionSigner(server_key(env.storage), lifetime_s=10).issue(token_id, now=1_000_000.0)
    c.cookies.set("aios_session", expired)
    assert c.get("/api/runs").status_code == 401


def test_login_is_rate_limited_per_client(env: Env) -> None:
    c = env.client()
    c.get("/login")
    for _ in range(5):
        assert c.post("/login", data={"token": "aios_guess", "csrf_token": c.cookies["aios_csrf"]}).status_code == 401
    r = c.post("/login", data={"token": env.token, "csrf_token": c.cookies["aios_csrf"]})
    assert r.status_code == 429 and "aios_session" not in r.headers.get("set-cookie", "")


def test_state_changing_requests_need_the_csrf_token(env: Env) -> None:
    c = env.login()
    url = f"/approvals/{env.approval_id}/approve"
    assert c.post(url, data={"note": "no token"}).status_code == 403
    assert c.post(url, data={"note": "wrong", "csrf_token": "x" * 32}).status_code == 403
    assert c.post(url, json={"note": "json"}, headers={"X-CSRF-Token": "y" * 32}).status_code == 403
    assert c.post("/login", data={"token": env.token}).status_code == 403
    assert c.post(f"/runs/{env.run_id}/cancel", data={}).status_code == 403
    assert c.post("/api/approvals/" + env.approval_id + "/approve", json={}).status_code == 403  # a session is no Bearer
    pending = c.get("/api/approvals").json()["pending"]
    assert [a["id"] for a in pending] == [env.approval_id]
    r = c.post(url, data={"note": "looks right", "csrf_token": c.cookies["aios_csrf"]})
    assert r.status_code == 303 and r.headers["location"] == "/approvals"
    assert c.get("/api/approvals").json()["pending"] == []
    assert c.get(f"/api/runs/{env.run_id}").json()["run"]["status"] == "completed"


def test_tokens_are_stored_only_as_hashes(env: Env) -> None:
    conn = sqlite3.connect(env.storage / "web.db")
    try:
        rows = conn.execute("SELECT * FROM tokens").fetchall()
    finally:
        conn.close()
    assert rows and env.token not in repr(rows)
    assert env.token not in (env.storage / "web.db").read_bytes().decode("latin-1")


def test_security_headers_on_pages_api_and_refusals(env: Env) -> None:
    c = env.login()
    for r in (c.get("/runs"), c.get("/api/runs"), env.client().get("/api/runs"), c.post("/logout")):
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    html = c.get("/runs").text
    assert "<script>" not in html and "onclick" not in html and " style=" not in html
