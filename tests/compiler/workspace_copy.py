"""Copy the example workspace (only its workspace folders) somewhere a test may break it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT

WORKSPACE_PARTS = ("aios.yaml", "playbooks", "connectors", "prompts", "policies", "knowledge", "events", "schema")


def copy_example(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKSPACE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy2(src, dest / part)
    return dest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
