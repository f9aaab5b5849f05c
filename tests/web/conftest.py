from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from .workspace import example_copy, lead

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@dataclass
class Env:
    ws: Path
    storage: Path
    plan: Any
    dashboard: Any
    host: Any
    token: str  # the operator's token (actor `operator`, the example gate's approver)
    run_id: str  # a content-pipeline run waiting at its approval gate
    approval_id: str

    def client(self) -> TestClient:
        return TestClient(self.dashboard, base_url="http://127.0.0.1", follow_redirects=False)

    def login(self, client: TestClient | None = None, token: str | None = None) -> TestClient:
        c = client or self.client()
        c.get("/login")
        r = c.post("/login", data={"token": token or self.token, "csrf_token": c.cookies["aios_csrf"],
                                   "next": "/runs"})
        assert r.status_code == 303, r.text
        return c

    def new_token(self, name: str, actor: str) -> str:
        from aios.web.tokens import TokenStore

        with TokenStore(self.storage) as store:
            return store.create(name, actor)[1]

    def start(self, lead_id: str, **kw: Any) -> Any:
        from aios.runtime.interpreter import Runtime

        with Runtime(self.plan, self.ws) as rt:
            return rt.start("content-pipeline", lead(lead_id, **kw))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    from aios.compiler import compile_workspace
    from aios.web.app import Dashboard
    from aios.web.host import Host

    ws = example_copy(tmp_path / "ws")
    plan = compile_workspace(ws).plan
    assert plan is not None
    storage = ws / ".aios"
    e = Env(ws, storage, plan, None, None, "", "", "")
    out = e.start("lead-1")
    assert out.approval is not None, out
    e.run_id, e.approval_id = out.run_id, out.approval.id
    e.token = e.new_token("ops", "operator")
    e.host = Host(ws, storage, lambda: plan)
    e.dashboard = Dashboard(e.host)
    try:
        yield e
    finally:
        e.dashboard.close()
