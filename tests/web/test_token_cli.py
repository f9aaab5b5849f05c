"""`aios token create|list|revoke` as a user runs them, and the CLI staying light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .workspace import example_copy


def _aios(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIOS_ACTOR", None)
    return subprocess.run([sys.executable, "-m", "aios", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def test_token_create_shows_it_once_list_never_and_revoke_ends_it(tmp_path: Path) -> None:
    ws = example_copy(tmp_path / "ws")
    made = _aios("token", "create", "--name", "laptop", cwd=ws)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.splitlines()[1]
    assert secret.startswith("aios_") and len(secret) > 40
    assert "token `laptop` for actor operator" in made.stdout and "shown only once" in made.stderr
    other = _aios("token", "create", "--name", "ci", "--actor", "ci-bot", "--json", cwd=ws)
    assert json.loads(other.stdout)["actor"] == "ci-bot"
    dup = _aios("token", "create", "--name", "laptop", cwd=ws)
    assert dup.returncode == 1 and "exists already" in dup.stderr
    listed = _aios("token", "list", "--json", cwd=ws)
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["laptop", "ci"] and secret not in listed.stdout
    from aios.web.tokens import TokenStore

    with TokenStore(ws / ".aios") as store:
        assert store.verify(secret) is not None
    revoked = _aios("token", "revoke", "laptop", cwd=ws)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    with TokenStore(ws / ".aios") as store:
        assert store.verify(secret) is None
    assert [r["name"] for r in json.loads(_aios("token", "list", "--json", cwd=ws).stdout)] == ["ci"]
    missing = _aios("token", "revoke", "nope", cwd=ws)
    assert missing.returncode == 1 and "no token `nope`" in missing.stderr


def test_help_and_validate_do_not_import_the_web_layer(tmp_path: Path) -> None:
    ws = example_copy(tmp_path / "ws")
    code = ("import sys\nfrom click.testing import CliRunner\nfrom aios.cli.main import cli\n"
            f"for args in (['--help'], ['validate', {str(ws)!r}], ['token', '--help']):\n"
            "    r = CliRunner().invoke(cli, args)\n    assert r.exit_code == 0, r.output\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'litellm', "
            "'tantivy') or m.startswith('aios.web.app'))\nprint(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
