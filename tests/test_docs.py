"""The docs name every diagnostic code and every command."""

from __future__ import annotations

import importlib

from aios.cli.main import COMMANDS
from aios.diagnostics import CODES
from tests.conftest import ROOT


def _all_codes() -> dict[str, object]:
    importlib.import_module("aios.compiler")
    for module in ("aios.policy",):
        importlib.import_module(module)
    return dict(CODES)


def test_every_code_has_a_section_in_diagnostics_md() -> None:
    text = (ROOT / "docs" / "diagnostics.md").read_text()
    missing = [code for code in _all_codes() if f"### `{code}`" not in text]
    assert missing == []


def test_every_command_is_in_cli_md() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    missing = [name for name in COMMANDS if f"aios {name}" not in text]
    assert missing == []
