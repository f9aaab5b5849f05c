"""The exported JSON Schema accepts every example document and rejects broken ones it can see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from aios.cli.main import cli
from aios.spec.json_schema import workspace_json_schema
from tests.conftest import ROOT


def _documents(path: Path) -> list[Any]:
    docs = [d for d in YAML(typ="safe").load_all(path.read_text()) if d is not None]
    data: list[Any] = json.loads(json.dumps(docs, default=str))
    return data


def _example_files() -> list[Path]:
    files = [ROOT / "aios.yaml", *sorted((ROOT / "playbooks").glob("*.yaml")),
             *sorted((ROOT / "connectors").glob("*.yaml"))]
    return [f for f in files if not f.name.endswith(".test.yaml")]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    out = CliRunner().invoke(cli, ["schema"]).output
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_accepts_example_files(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    for doc in _documents(path):
        errors = list(validator.iter_errors(doc))
        assert errors == [], errors[0].message if errors else ""


BROKEN = {
    "unknown step key": "kind: playbook\nname: p\ntrigger: {event: a}\nsteps:\n  - id: a\n    agnet: x\n",
    "missing trigger": "kind: playbook\nname: p\nsteps:\n  - {id: a, transform: {x: 1}}\n",
    "bad kind": "kind: playbok\nname: p\n",
    "bad step id": "kind: playbook\nname: p\ntrigger: {event: a}\nsteps:\n  - {id: Bad, transform: 1}\n",
    "top_k not a number": "kind: playbook\nname: p\ntrigger: {event: a}\nsteps:\n"
                          "  - {id: a, retrieve: {query: q, top_k: lots}}\n",
    "agent without role": "kind: agent\nname: a\nprompt: p.j2\n",
    "bad side effect": "kind: connector\nname: a.b\nside_effect: sometimes\n",
    "share over 100": "kind: flag\nname: f\nvariants: [{name: a, share: 120}]\n",
    "schema name lowercase": "kind: schema\nname: lead\nfields: {a: str}\n",
    "unknown workspace key": "name: w\nstorag: x\n",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_rejects_broken_documents(validator: jsonschema.Draft202012Validator, name: str) -> None:
    doc = YAML(typ="safe").load(BROKEN[name])
    assert list(validator.iter_errors(doc)), f"schema accepted: {name}"


def test_committed_schema_file_is_current() -> None:
    committed = json.loads((ROOT / "schema" / "aios.schema.json").read_text())
    assert committed == json.loads(json.dumps(workspace_json_schema())), "run `aios schema -o schema/aios.schema.json`"


def test_example_files_carry_the_modeline() -> None:
    for path in _example_files():
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target == (ROOT / "schema" / "aios.schema.json").resolve(), path
