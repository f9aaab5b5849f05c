"""The Python API for connectors, the module loader, and workspace connectors through the interpreter."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from aios.connectors import ConnectorImpl, Context, Preview, Reconciliation, as_impl, connector
from aios.connectors.api import Outcome
from aios.connectors.loader import ConnectorLoadError, load_attribute, parse_module_ref, probe
from aios.runtime.connectors import ConnectorFailed
from aios.runtime.runstate import RunStatus
from tests.conftest import ROOT
from tests.connectors.conftest import MakeCall
from tests.connectors.workspace import log_types, run_playbook, write_workspace


class In(BaseModel):
    sku: str
    quantity: int


class Out(BaseModel):
    ref: str
    total: Decimal


@connector
def place(input: In, ctx: Context) -> Out:
    return Out(ref=f"{ctx.idempotency_key}:{input.sku}", total=Decimal("2.50") * input.quantity)


@place.preview
def _preview(input: In, ctx: Context) -> Preview:
    return Preview("supplier", f"would order {input.quantity} x {input.sku}", input.model_dump())


@dataclass
class DIn:
    name: str
    times: int = 1


@dataclass
class DOut:
    text: str


@connector
def greet(input: DIn, ctx: Context) -> DOut:
    return DOut(" ".join([f"hello {input.name}"] * input.times))


def test_typed_input_and_output(make_call: MakeCall) -> None:
    assert isinstance(place, ConnectorImpl) and place.input_type is In and place.output_type is Out
    out = place(make_call("x.place", {"sku": "A5", "quantity": 3}, key="k"))
    assert out == {"ref": "k:A5", "total": "7.50"}
    assert greet(make_call("x.greet", {"name": "Ada", "times": 2})) == {"text": "hello Ada hello Ada"}
    preview = place.run_preview(make_call("x.place", {"sku": "A5", "quantity": 3}))
    assert preview is not None and preview.summary == "would order 3 x A5"
    assert place.run_reconcile(make_call("x.place", {"sku": "A5", "quantity": 3})) is None


def test_input_that_does_not_parse_is_a_permanent_failure(make_call: MakeCall) -> None:
    with pytest.raises(ConnectorFailed) as err:
        place(make_call("x.place", {"sku": "A5", "quantity": "many"}))
    assert not err.value.transient and "quantity" in str(err.value) and "In" in str(err.value)


def test_output_is_checked_against_the_output_type(make_call: MakeCall) -> None:
    @connector
    def sloppy(input: dict[str, Any], ctx: Context) -> Out:
        return {"ref": 5}  # type: ignore[return-value]

    assert sloppy.input_type is None
    with pytest.raises(ConnectorFailed) as err:
        sloppy(make_call("x.s", {}))
    assert "does not match Out" in str(err.value) and not err.value.transient

    @connector
    def untyped(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"echo": input, "key": ctx.idempotency_key, "run": ctx.provenance.run_id}

    assert untyped(make_call("x.u", {"a": 1}, key="kk")) == {"echo": {"a": 1}, "key": "kk", "run": "run_test"}


def test_reconcile_output_is_dumped_like_execute_output(make_call: MakeCall) -> None:
    @connector
    def thing(input: In, ctx: Context) -> Out:
        raise AssertionError("not called")

    @thing.reconcile
    def _(input: In, ctx: Context) -> Reconciliation:
        return Reconciliation.happened(Out(ref="r", total=Decimal("1.0")))  # type: ignore[arg-type]

    answer = thing.run_reconcile(make_call("x.t", {"sku": "A", "quantity": 1}))
    assert answer is not None and answer.outcome is Outcome.HAPPENED and answer.output == {"ref": "r", "total": "1.0"}


def test_explicit_types_and_plain_functions() -> None:
    def execute(input: Any, ctx: Any) -> Any:
        return {"ref": "x", "total": 1}

    typed = connector(input=In, output=Out)(execute)
    assert typed.input_type is In and typed.output_type is Out
    assert isinstance(as_impl(execute), ConnectorImpl)  # (input, ctx) is wrapped

    def raw(call: Any) -> dict[str, Any]:
        return {}

    assert as_impl(raw) is raw  # the interpreter's own protocol passes through
    with pytest.raises(TypeError, match="must take"):
        connector(lambda a, b, c: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        as_impl(42)


# -- the loader --------------------------------------------------------------------------------------

def _ws(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "ws"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_loader_supports_neighbour_imports_and_reloads_edited_files(tmp_path: Path) -> None:
    root = _ws(tmp_path, {
        "connectors/common.py": "PREFIX = 'v1'\n",
        "connectors/crm/sync.py": "from .. import common\n\ndef push(call):\n    return {'v': common.PREFIX}\n",
    })
    ref = parse_module_ref("crm.sync:push", "crm.push")
    assert ref == parse_module_ref("crm/sync:push", "crm.push") and ref.file == "connectors/crm/sync.py"
    fn = load_attribute(root, ref)
    assert fn(None) == {"v": "v1"}
    assert load_attribute(root, ref) is fn  # cached while the file is unchanged
    (root / "connectors/crm/sync.py").write_text("def push(call):\n    return {'v': 'v2'}\n")
    assert load_attribute(root, ref)(None) == {"v": "v2"}


def test_probe_reports_where_the_import_failed_and_keeps_sys_modules_clean(tmp_path: Path) -> None:
    root = _ws(tmp_path, {
        "connectors/ok.py": "def go(call):\n    return {}\n",
        "connectors/boom.py": "import json\n\n\nvalue = json.loads('{')\n",
        "connectors/syntax.py": "def go(call)\n    return {}\n",
    })
    before = set(sys.modules)
    assert callable(probe(root, parse_module_ref("ok:go", "x.go")))
    with pytest.raises(ConnectorLoadError) as err:
        probe(root, parse_module_ref("boom", "x.boom"))
    assert err.value.kind == "import" and err.value.location == "connectors/boom.py:4"
    assert "JSONDecodeError" in str(err.value)
    with pytest.raises(ConnectorLoadError) as err:
        probe(root, parse_module_ref("syntax:go", "x.go"))
    assert err.value.location == "connectors/syntax.py:1" and "SyntaxError" in str(err.value)
    with pytest.raises(ConnectorLoadError) as err:
        probe(root, parse_module_ref("ok:gone", "x.gone"))
    assert err.value.kind == "attribute" and "it defines: go" in str(err.value)
    with pytest.raises(ConnectorLoadError) as err:
        probe(root, parse_module_ref("nothere", "x.y"))
    assert err.value.kind == "missing-file"
    assert {m for m in set(sys.modules) - before if "aios" in m and "check" in m} == set()


# -- a workspace's own connector, end to end ---------------------------------------------------------

GREETER = '''\
from pydantic import BaseModel

from aios.connectors import Context, connector


class GreetInput(BaseModel):
    name: str


class GreetOutput(BaseModel):
    text: str
    key: str


@connector
def greet(input: GreetInput, ctx: Context) -> GreetOutput:
    return GreetOutput(text=f"{ctx.settings['greeting']}, {input.name}", key=ctx.idempotency_key)
'''


def test_workspace_connector_runs_through_the_interpreter(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", """\
  - id: hello
    connector: crm.greet
    input: {name: "{{ event.payload.name }}"}
    idempotency_key: "greet-{{ event.id }}"
""", connectors={"crm.greet": {"greeting": "Hello"}}, files={
        "connectors/crm.py": GREETER,
        "connectors/contracts.yaml": "kind: connector\nname: crm.greet\nmodule: crm:greet\n"
                                     "input: {name: str}\noutput: {text: str, key: str}\nside_effect: reversible\n"})
    out = run_playbook(ws, {"name": "Ada"})
    assert out.status is RunStatus.COMPLETED, out.error
    done = [b for s, t, b in log_types(ws, out.run_id) if t == "step.completed" and s == "hello"]
    assert done[0]["out"] == {"text": "Hello, Ada", "key": "greet-ev-1"}


# -- the example workspace's own connectors ------------------------------------------------------------

def _example(name: str) -> ConnectorImpl[Any, Any]:
    ref = parse_module_ref(f"{name}", name)
    impl = as_impl(load_attribute(ROOT, ref))
    assert isinstance(impl, ConnectorImpl)
    return impl


def test_example_social_schedule_queues_once_and_cancel_undoes_it(make_call: MakeCall) -> None:
    schedule, cancel = _example("social:schedule"), _example("social:cancel")
    settings = {"queue": "outbox/social"}
    call = make_call("social.schedule", {"url": "https://n.example/a", "text": "New", "channels": ["linkedin"]},
                     key="distribute-1", settings=settings)
    first = schedule(call)
    assert schedule(call) == first and first["post_id"].startswith("post-")
    queued = call.workspace / "outbox" / "social" / f"{first['post_id']}.json"
    assert json.loads(queued.read_text())["channels"] == ["linkedin"]
    preview = schedule.run_preview(call)
    assert preview is not None and first["post_id"] in preview.summary
    assert cancel(make_call("social.cancel", {"post_id": first["post_id"]}, settings=settings)) == {"cancelled": True}
    assert not queued.exists()


def test_example_supplier_order_signs_without_writing_the_token(make_call: MakeCall) -> None:
    order = _example("supplier:order")
    inp = {"sku": "NB-A5", "quantity": 150, "supplier_email": "orders@paperworks.example", "total_eur": 510.0}
    call = make_call("supplier.order", inp, key="order-1", secrets={"supplier_token": "CANARY-TOKEN"},
                     settings={"outbox": "outbox/orders", "token_secret": "supplier_token"})
    before = order.run_reconcile(call)
    assert before is not None and before.outcome is Outcome.NOT_HAPPENED
    out = order(call)
    assert order(call) == out
    (path,) = (call.workspace / "outbox" / "orders").iterdir()
    text = path.read_text()
    assert "CANARY-TOKEN" not in text and json.loads(text)["signature"]
    after = order.run_reconcile(call)
    assert after is not None and after.outcome is Outcome.HAPPENED and after.output == out
