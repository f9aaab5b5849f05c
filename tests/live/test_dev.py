"""`aios dev` as a real process: edits are picked up while it serves webhooks, a broken edit leaves
the last good plan live (stale) with the diagnostics `aios validate` prints, and an edited connector
module is the code the next run executes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from aios.cli.main import cli

from .liveserver import ServerProcess, signed_headers
from .workspace import NOTES_PLAYBOOK


def _deliver(client: httpx.Client, order: str) -> None:
    body = json.dumps({"payload": {"delay_ms": 0}}).encode()
    r = client.post("/hooks/shop", content=body, headers=signed_headers(body, **{"x-aios-delivery": order}))
    assert r.status_code == 202, r.text


def _effects(ws: Path, count: int) -> list[str]:
    path = ws / "ledger" / "effects.txt"
    deadline = time.monotonic() + 30
    while True:
        lines = path.read_text().split() if path.exists() else []
        if len(lines) >= count:
            return lines
        assert time.monotonic() < deadline, f"effects: {lines}"
        time.sleep(0.05)


def test_dev_reloads_while_serving(ws: Path) -> None:
    with ServerProcess(ws, "dev") as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        srv.wait_for("watching playbooks/")
        _deliver(client, "o-a")
        assert _effects(ws, 1) == ["o-a"]

        module = ws / "connectors" / "ledger.py"
        mark = len(srv.lines)
        module.write_text(module.read_text().replace('str(input["order"]) + "\\n"',
                                                     '"v2:" + str(input["order"]) + "\\n"'))
        srv.wait_for(r"reload #\d+: 1 file changed \(connectors/ledger\.py\) → plan \w+ live .*"
                     r"reloaded connectors/ledger\.py in \d+ ms", start=mark)
        _deliver(client, "o-b")
        assert _effects(ws, 2) == ["o-a", "v2:o-b"]  # the edited module ran, without a restart

        good = client.get("/healthz").json()["plan"]
        notes = ws / "playbooks" / "notes.yaml"
        mark = len(srv.lines)  # before the write: the reload can print before the next line runs
        notes.write_text(NOTES_PLAYBOOK.replace("needs: [check]", "needs: [chek]"))
        srv.wait_for(rf"live plan {good[:12]} is STALE", start=mark)
        srv.wait_for(r"^\d+ errors?", start=mark)  # the summary line closes the diagnostics block
        health = client.get("/healthz").json()
        assert health["stale"] is True and health["plan"] == good
        validated = CliRunner().invoke(cli, ["validate", "--no-color", str(ws)])
        assert validated.exit_code == 1
        assert validated.output.strip() in srv.output()  # printed exactly as `aios validate` prints it
        _deliver(client, "o-c")  # the last good plan keeps serving
        assert _effects(ws, 3)[-1] == "v2:o-c"

        mark = len(srv.lines)
        notes.write_text(NOTES_PLAYBOOK.replace("needs a yes", "needs a firm yes"))
        srv.wait_for(rf"1 file changed \(playbooks/notes\.yaml\) → plan \w+ live \(was {good[:12]}\)", start=mark)
        health = client.get("/healthz").json()
        assert health["stale"] is False and health["plan"] != good
    assert "stopped" in srv.output().splitlines()[-1]


def test_dev_waits_for_a_clean_workspace_before_serving(ws: Path) -> None:
    notes = ws / "playbooks" / "notes.yaml"
    notes.write_text(NOTES_PLAYBOOK.replace("needs: [check]", "needs: [chek]"))
    srv = ServerProcess(ws, "dev")
    try:
        srv.launch()
        srv.wait_for("waiting for a fix", timeout=60)
        assert "unknown step `chek`" in srv.output() and "listening on" not in srv.output()
        notes.write_text(NOTES_PLAYBOOK)
        srv.wait_for(r"listening on http://127\.0\.0\.1:\d+", timeout=60)
    finally:
        srv.stop()
