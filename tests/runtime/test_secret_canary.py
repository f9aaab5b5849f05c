"""Secret canaries, every route: a model provider echoing the API key in its error, a one-argument
connector (``def send(call)``) returning and raising the secret in escaped, URL-encoded, base64 and
partial forms, a real HTTP target echoing a secret with ``"`` and ``\\`` in a JSON error body, and a
knowledge note holding a secret. After the runs, no form of either secret may be in the state
store's bytes, any file of the storage folder (Tantivy index included), the index's stored
documents, or the output of ``aios run``, ``runs show``, ``runs list --json``, ``alerts``, ``log``
and ``memory`` commands. The masking rule itself is in tests/test_masking.py."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.connectors.servers import HttpTarget, http_target
from tests.models.openai_server import FakeOpenAI, raw

API_KEY = "sk-canary-" + "9f3c1e7a5b2d4f6081a3c5e7092b4d6f"
TOKEN = 'tk"canary\\' + "c0ffee42d00d5eed" + '"end'  # a quote and a backslash: escaped in JSON
SECRETS = (API_KEY, TOKEN)

LEAKY = '''\
"""A connector in the one-argument form: it gets the raw ConnectorCall and is not wrapped."""

import base64
import json
from urllib.parse import quote, quote_plus


def send(call):
    tok = call.secret("token")
    return {"echo": f"token {tok}", "json": json.dumps({"t": tok}), "url": quote(tok, safe=""),
            "plus": quote_plus(tok), "basic": base64.b64encode(f"ada:{tok}".encode()).decode(),
            "urlsafe": base64.urlsafe_b64encode(b"xy" + tok.encode()).decode(), "part": tok[3:15]}


def fail(call):
    tok = call.secret("token")
    raise RuntimeError(f"upstream refused {json.dumps(tok)} ({quote_plus(tok)}), key prefix {tok[:11]}")
'''


def _variants(secret: str) -> set[str]:
    """What must never be found: the value, its escaped and encoded forms, the middle of its base64
    at every alignment, and every run of 8 of its characters (raw and JSON-escaped)."""
    escaped = json.dumps(secret)[1:-1]
    out = {secret, escaped, json.dumps(escaped)[1:-1], quote(secret, safe=""), quote(secret), quote_plus(secret)}
    for prefix in (b"", b"a", b"ab", b"ada:"):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(prefix + secret.encode()).decode()
            out.add(text[len(prefix) // 3 * 4 + 4:-4])  # the characters that depend on the secret only
    for form in (secret, escaped):
        out |= {form[i:i + 8] for i in range(len(form) - 7)}
    return out


VARIANTS = {v: s for s in SECRETS for v in _variants(s)}


def _leaks(text: str | bytes) -> list[str]:
    data = text if isinstance(text, bytes) else text.encode()
    return sorted(v for v in VARIANTS if v.encode() in data)


@pytest.fixture
def target() -> Iterator[HttpTarget]:
    yield from http_target()


@pytest.fixture
def provider() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _workspace(root: Path, provider: FakeOpenAI, target: HttpTarget) -> Path:
    files = {
        "aios.yaml": f"""\
name: canary
storage: .aios
models:
  default: {{model: offline}}
  remote: {{model: openai/gpt-4o-mini, api_base: "{provider.base}", api_key: openai_key, max_retries: 0,
           timeout_s: 5}}
secrets:
  openai_key: {{env: AIOS_CANARY_OPENAI}}
  token: {{env: AIOS_CANARY_TOKEN}}
connectors:
  http.request: {{bearer_secret: token}}
""",
        "playbooks/schemas.yaml": "kind: schema\nname: Note\nfields:\n  title: str\n",
        "playbooks/agents.yaml": "kind: agent\nname: writer\nrole: Write a note.\nmodel: remote\n"
                                 "prompt: prompts/writer.j2\noutput: Note\n",
        "prompts/writer.j2": "Write a note about {{ input }}.\n",
        "playbooks/model.yaml": "kind: playbook\nname: model\ntrigger: {event: model.go}\nsteps:\n"
                                "  - id: write\n    agent: writer\n",
        "playbooks/leak.yaml": "kind: playbook\nname: leak\ntrigger: {event: leak.go}\nsteps:\n"
                               "  - id: send\n    connector: leaky.send\n    idempotency_key: \"s-{{ event.id }}\"\n"
                               "  - id: fail\n    needs: [send]\n    connector: leaky.fail\n"
                               "    idempotency_key: \"f-{{ event.id }}\"\n    on_failure: {retry: {max: 0}}\n",
        "playbooks/http.yaml": "kind: playbook\nname: http\ntrigger: {event: http.go}\nsteps:\n"
                               f"  - id: call\n    connector: http.request\n    input: {{url: \"{target.url('/denied')}\"}}\n"
                               "    idempotency_key: \"h-{{ event.id }}\"\n    on_failure: {retry: {max: 0}}\n",
        "connectors/contracts.yaml": "kind: connector\nname: leaky.send\nmodule: leaky:send\nside_effect: irreversible\n"
                                     "secrets: [token]\n---\nkind: connector\nname: leaky.fail\nmodule: leaky:fail\n"
                                     "side_effect: irreversible\nsecrets: [token]\n",
        "connectors/leaky.py": LEAKY,
        "policies/allow.rules": "policy canary\n\ndefault allow\n",
        "knowledge/ops.md": f"# Operations\n\nThe staging key is {API_KEY} and the token is {TOKEN}.\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    for name, body in (("model", {}), ("leak", {}), ("http", {})):
        (root / f"{name}.json").write_text(json.dumps({"type": f"{name}.go", "id": f"ev-{name}", "payload": body}))
    return root


def _stored_documents(index_dir: Path) -> str:
    import tantivy

    index = tantivy.Index.open(str(index_dir / "tantivy"))
    index.reload()
    searcher = index.searcher()
    hits = searcher.search(tantivy.Query.all_query(), 10_000).hits
    assert hits, "the index holds no documents"
    return "\n".join(json.dumps(searcher.doc(addr).to_dict(), default=repr, ensure_ascii=False) for _, addr in hits)


def test_no_form_of_a_secret_reaches_a_store_the_index_or_the_cli(tmp_path: Path, provider: FakeOpenAI,
                                                                   target: HttpTarget) -> None:
    ws = _workspace(tmp_path / "ws", provider, target)
    provider.script.append(raw(json.dumps({"error": {
        "message": f"Incorrect API key provided: Bearer {API_KEY}. You can find your API key at "
                   "https://platform.example/account/api-keys.", "type": "invalid_request_error",
        "code": "invalid_api_key"}}).encode(), code=401))
    target.fail("/denied", 400, headers={"Content-Type": "application/json"},
                body=json.dumps({"error": {"message": f"token {TOKEN} is not valid for this account"}}))
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "AIOS_CANARY_OPENAI": API_KEY,
           "AIOS_CANARY_TOKEN": TOKEN}
    env.pop("AIOS_ACTOR", None)
    outputs: dict[str, str] = {}

    def aios(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True,
                              text=True, env=env, timeout=180)
        outputs[" ".join(args)] = proc.stdout + proc.stderr
        return proc

    runs = {name: aios("run", name, "--event", str(ws / f"{name}.json")) for name in ("model", "leak", "http")}
    for name, proc in runs.items():
        assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
    # the routes were taken: the key went to the provider, the token to the target; errors kept, masked
    assert provider.requests and provider.requests[0]["auth"] == f"Bearer {API_KEY}"
    assert target.requests and target.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Incorrect API key provided: Bearer ***" in runs["model"].stdout
    assert "is not valid for this account" in runs["http"].stdout and "***" in runs["http"].stdout
    assert "upstream refused \"***\" (***), key prefix ***" in runs["leak"].stdout

    listed = aios("runs", "list", "--json")
    run_ids = [r["id"] for r in json.loads(listed.stdout)]
    assert len(run_ids) == 3 and all(r["error"] for r in json.loads(listed.stdout))
    for run_id in run_ids:
        aios("runs", "show", run_id)
        aios("runs", "show", run_id, "--full")
        aios("runs", "show", run_id, "--json")
    alerts = aios("alerts", "--json")
    assert len(json.loads(alerts.stdout)) == 3
    aios("alerts")
    assert aios("log", "verify").returncode == 0  # masked before hashing: the chain still holds
    assert aios("memory", "reindex").returncode == 0
    found = aios("memory", "search", "staging key", "--json")
    assert "***" in found.stdout  # the note is indexed, its secrets masked
    aios("memory", "search", TOKEN[3:15], "--json")

    leaked = {cmd: _leaks(text) for cmd, text in outputs.items() if _leaks(text)}
    assert leaked == {}, {cmd: outputs[cmd] for cmd in leaked}
    storage = ws / ".aios"
    files = [p for p in storage.rglob("*") if p.is_file()]
    assert any(p.name == "state.db" for p in files) and any("tantivy" in p.parts for p in files)
    in_files = {str(p.relative_to(ws)): _leaks(p.read_bytes()) for p in files if _leaks(p.read_bytes())}
    assert in_files == {}
    assert _leaks(_stored_documents(storage / "index")) == []
    shown = outputs[f"runs show {run_ids[-1]} --full"] + outputs[f"runs show {run_ids[0]} --full"]
    assert "***" in shown  # masked, not dropped
