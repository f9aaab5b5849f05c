"""Compile-time diagnostics of the connector plane, with exact positions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aios.compiler import compile_workspace
from aios.connectors.check import CONNECTOR_CODES
from aios.connectors.registry import BUILTINS, builtin
from aios.connectors.typematch import mismatches
from aios.diagnostics import CODES
from tests.conftest import ROOT
from tests.connectors.workspace import write_workspace

CONTRACT = """\
kind: connector
name: crm.push
module: crm:push
input:
  email: email
  score: int
  tags: {type: "list[str]", required: false}
output:
  id: str
  at: datetime
side_effect: reversible
"""

STEP = """\
  - id: push
    connector: crm.push
    input: {email: a@b.example, score: 3}
    idempotency_key: "push-{{ event.id }}"
"""


def _diags(root: Path) -> list[str]:
    result = compile_workspace(root)
    return [f"{d.span.show() if d.span else '-'} {d.severity.value} {d.code}: {d.message}" for d in result.diagnostics]


def _codes(root: Path) -> list[str]:
    result = compile_workspace(root)
    return [f"{d.span.show() if d.span else '-'} {d.code}" for d in result.diagnostics]


def _ws(tmp_path: Path, module: str, *, contract: str = CONTRACT, step: str = STEP) -> Path:
    return write_workspace(tmp_path / "ws", step, files={"connectors/crm.py": module,
                                                         "connectors/contracts.yaml": contract})


GOOD = """\
from datetime import datetime
from pydantic import BaseModel
from aios.connectors import Context, connector

class PushIn(BaseModel):
    email: str
    score: int
    tags: list[str] | None = None

class PushOut(BaseModel):
    id: str
    at: datetime

@connector
def push(input: PushIn, ctx: Context) -> PushOut:
    return PushOut(id="1", at=datetime.now())
"""


def test_codes_are_registered_and_documented() -> None:
    text = (ROOT / "docs" / "diagnostics.md").read_text()
    for code in CONNECTOR_CODES:
        assert CODES[code.name] == code and f"### `{code.name}`" in text


def test_a_matching_module_compiles_clean(tmp_path: Path) -> None:
    assert _diags(_ws(tmp_path, GOOD)) == []


def test_example_workspace_is_clean_and_its_modules_match_their_contracts() -> None:
    result = compile_workspace(ROOT)
    assert result.plan is not None
    assert [d for d in result.diagnostics if d.code in {c.name for c in CONNECTOR_CODES}] == []


def test_every_builtin_matches_its_contract() -> None:
    result = compile_workspace(ROOT)
    assert result.plan is not None
    for name in BUILTINS:
        contract = result.plan.connector_map[name]
        impl = builtin(name)
        assert impl is not None and contract.builtin
        assert mismatches(contract.input, impl.input_type, "input") == [], name
        assert mismatches(contract.output, impl.output_type, "output") == [], name
        assert impl.can_preview == contract.can_preview, name
        assert impl.can_reconcile == contract.can_reconcile, name


def test_import_error_points_at_module_and_names_file_and_line(tmp_path: Path) -> None:
    root = _ws(tmp_path, "import json\n\nSETTINGS = json.loads('{broken')\n")
    assert _diags(root) == [
        "connectors/contracts.yaml:3:9 error connector-import: connector module `connectors/crm.py` fails to import: "
        "connectors/crm.py:3: JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1)"]


def test_syntax_error_and_missing_dependency(tmp_path: Path) -> None:
    assert _codes(_ws(tmp_path / "a", "def push(input, ctx)\n    pass\n")) == [
        "connectors/contracts.yaml:3:9 connector-import"]
    diags = _diags(_ws(tmp_path / "b", "import requests_that_do_not_exist\n"))
    assert len(diags) == 1 and "connectors/crm.py:1: ModuleNotFoundError" in diags[0]


def test_a_module_calling_sys_exit_is_a_diagnostic_not_an_exit(tmp_path: Path) -> None:
    diags = _diags(_ws(tmp_path, "import sys\nsys.exit(3)\n"))
    assert len(diags) == 1 and "connector-import" in diags[0] and "SystemExit" in diags[0]


def test_missing_function(tmp_path: Path) -> None:
    assert _diags(_ws(tmp_path, "def pull(call):\n    return {}\n")) == [
        "connectors/contracts.yaml:3:9 error connector-missing-function: connector `crm.push`: connectors/crm.py has "
        "no `push` (it defines: pull)"]
    assert _codes(_ws(tmp_path / "n", "push = 42\n")) == ["connectors/contracts.yaml:3:9 connector-missing-function"]


def test_contract_mismatches_point_at_the_contract_fields(tmp_path: Path) -> None:
    module = GOOD.replace("    score: int\n    tags: list[str] | None = None\n",
                          "    score: str\n    tags: list[str]\n    region: str\n").replace(
        "    at: datetime\n", "    at: datetime | None = None\n").replace("class PushOut(BaseModel):\n    id: str\n",
                                                                        "class PushOut(BaseModel):\n")
    assert _codes(_ws(tmp_path, module)) == [
        "connectors/contracts.yaml:3:9 connector-contract-mismatch",  # region: not in the contract
        "connectors/contracts.yaml:6:3 connector-contract-mismatch",  # score: int vs str
        "connectors/contracts.yaml:7:3 connector-contract-mismatch",  # tags: optional vs required
        "connectors/contracts.yaml:9:3 connector-contract-mismatch",  # id: missing from the output
        "connectors/contracts.yaml:10:3 connector-contract-mismatch",  # at: may be null
    ]
    messages = "\n".join(_diags(_ws(tmp_path / "again", module)))
    assert "`score` is int in the contract's input but str in PushIn" in messages
    assert "`tags` is optional in the contract's input but PushIn requires it" in messages
    assert "PushIn requires `region`, which the contract's input does not have" in messages
    assert "the contract's output `id` is not a field of PushOut" in messages
    assert "`at` is required in the contract's output but PushOut may leave it null" in messages


def test_a_contract_field_the_model_lacks(tmp_path: Path) -> None:
    module = GOOD.replace("    tags: list[str] | None = None\n", "")
    assert _diags(_ws(tmp_path, module)) == [
        "connectors/contracts.yaml:7:3 error connector-contract-mismatch: connector `crm.push`: the contract's input "
        "`tags` is not a field of PushIn, so the connector would never see it"]


def test_the_compiler_leaves_no_workspace_module_in_sys_modules(tmp_path: Path) -> None:
    before = set(sys.modules)
    _diags(_ws(tmp_path, GOOD))
    assert [m for m in set(sys.modules) - before if m.startswith("_aios_check")] == []


def test_validate_imports_neither_heavy_adapters_nor_builtin_connectors() -> None:
    code = ("import sys, json; from aios.compiler import compile_workspace; r = compile_workspace('.'); "
            "print(json.dumps([r.ok, sorted(m for m in sys.modules if m.split('.')[0] in "
            "('litellm', 'tantivy', 'httpx', 'smtplib') or m.startswith('aios.connectors.'))]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    ok, loaded = json.loads(proc.stdout)
    assert ok
    assert [m for m in loaded if m.split(".")[0] in ("litellm", "tantivy", "httpx", "smtplib")] == []
    assert set(loaded) <= {"aios.connectors.api", "aios.connectors.check", "aios.connectors.loader",
                           "aios.connectors.typematch", "aios.connectors.localfs"}


# -- irreversible connectors and approval paths ------------------------------------------------------

HTTP_STEP = """\
  - id: call
    connector: http.request
    input: {url: "https://api.example/x"}
    idempotency_key: "call-{{ event.id }}"
"""


@pytest.mark.parametrize(("rules", "warned"), [
    ("policy p\n\ndefault allow\n", True),
    ('policy p\n\nrule calls\n  when action.connector == "http.request"\n  allow "fine"\n', True),
    ('policy p\n\nrule calls\n  when action.connector == "http.request"\n  allow "fine"\n\n'
     'rule posts\n  when action.connector == "http.request" and action.input.method == "POST"\n'
     '  require approval "a human looks at posts"\n', False),
    ("policy p\n\ndefault require approval\n", False),
    ('policy p\n\nrule other\n  when action.connector == "files.write"\n  allow "fine"\n', False),  # denied anyway
])
def test_irreversible_connector_without_an_approval_path(tmp_path: Path, rules: str, warned: bool) -> None:
    root = write_workspace(tmp_path / "ws", HTTP_STEP, rules=rules)
    expected = ["playbooks/p.yaml:5:9 irreversible-without-approval"] if warned else []
    assert [c for c in _codes(root) if "irreversible" in c] == expected


def test_a_gate_before_the_step_is_an_approval_path(tmp_path: Path) -> None:
    gated = "  - id: ok\n    gate: {message: Send it?}\n" + HTTP_STEP.replace("    connector:", "    needs: [ok]\n"
                                                                                   "    connector:")
    root = write_workspace(tmp_path / "ws", gated, rules="policy p\n\ndefault allow\n")
    assert [c for c in _codes(root) if "irreversible" in c] == []


_REMINDER = "kind: schema\nname: Reminder\nfields:\n  number: str\n  amount: decimal\n"
_OTHER_PLAYBOOK = ("kind: playbook\nname: q\ntrigger: {event: other}\nsteps:\n"
                   "  - id: note\n    transform: {number: x, amount: 1}\n    writes: Reminder\n")


@pytest.mark.parametrize("approval", [
    'record.schema == "Reminder" and record.amount > 1000',  # record writes only
    'record.schema != null',  # record writes only
    'action.kind == "model"',  # model calls only
    'action.connector == "files.write"',  # another connector
    'action.connector == "http.request" and run.playbook == "q"',  # another playbook
])
def test_an_approval_rule_that_cannot_match_the_step_does_not_silence_the_warning(
        tmp_path: Path, approval: str) -> None:
    rules = f'policy p\n\nrule look\n  when {approval}\n  require approval "a human looks"\n\ndefault allow\n'
    root = write_workspace(tmp_path / "ws", HTTP_STEP, rules=rules,
                           files={"playbooks/schemas.yaml": _REMINDER, "playbooks/q.yaml": _OTHER_PLAYBOOK})
    assert [c for c in _codes(root) if c.endswith(("irreversible-without-approval", "error"))
            or "rule-" in c] == ["playbooks/p.yaml:5:9 irreversible-without-approval"]


def test_an_approval_rule_for_this_playbook_counts(tmp_path: Path) -> None:
    rules = ('policy p\n\nrule look\n  when action.connector == "http.request" and run.playbook == "p"\n'
             '  require approval "a human looks"\n\ndefault allow\n')
    root = write_workspace(tmp_path / "ws", HTTP_STEP, rules=rules,
                           files={"playbooks/schemas.yaml": _REMINDER, "playbooks/q.yaml": _OTHER_PLAYBOOK})
    assert [c for c in _codes(root) if "irreversible" in c or "rule-" in c] == []
