"""litellm never prints into aios's output, and a model server that refuses the connection is
reported as such: through `aios run`, in a separate process, with a real litellm call to a closed
port on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.runtime.workspace import write_workspace


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()  # nothing listens there any more: a connection is refused
    return port


def test_a_refused_connection_is_one_clear_line_and_litellm_prints_nothing(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    base = f"http://127.0.0.1:{_closed_port()}/v1"
    yaml = (ws / "aios.yaml").read_text().replace(
        "  default: {model: offline}",
        f"  default: {{model: openai/gpt-4o-mini, api_base: \"{base}\", api_key: key, max_retries: 1, timeout_s: 5}}"
        "\nsecrets:\n  key: {env: AIOS_TEST_MODEL_KEY}")
    (ws / "aios.yaml").write_text(yaml)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "AIOS_TEST_MODEL_KEY": "sk-test"}
    env.pop("LITELLM_LOG", None)
    proc = subprocess.run([sys.executable, "-m", "aios", "run", "flow", "--event", str(ws / "event.json"),
                           "-w", str(ws)], capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert f"cannot connect to {base}: connection refused" in out, out
    assert "InternalServerError" not in out and "Connection error." not in out
    for noise in ("Give Feedback", "LiteLLM", "litellm.turn_on_debug", "\x1b["):
        assert noise not in out, (noise, out)
