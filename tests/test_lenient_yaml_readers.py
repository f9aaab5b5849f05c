"""Readers that take YAML without compiling (aios.yaml for store commands and memory settings, note
front matter) apply the same limits as the compiler: a hostile file falls back to defaults, never
a crash, a RecursionError or a memory blow-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aios.load.yaml_limits import load_plain
from aios.memory.knowledge import chunk_text
from aios.memory.settings import MemorySettings

BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))
DEEP = "storage: " + "[" * 30_000 + "]" * 30_000 + "\n"
DEEPISH = "storage: " + "[" * 900 + "]" * 900 + "\n"  # below the scan threshold, above Python's recursion


@pytest.mark.parametrize("text", [BOMB, DEEP, DEEPISH, "storage: [unclosed\n", "\x00"],
                         ids=["alias-bomb", "deep", "deepish", "broken", "nul"])
def test_load_plain_refuses_what_the_compiler_refuses(text: str) -> None:
    assert load_plain(text) is None


def test_load_plain_reads_ordinary_yaml() -> None:
    assert load_plain("storage: .state\nmemory: {half_life_days: 30}\n") == {
        "storage": ".state", "memory": {"half_life_days": 30}}


def test_memory_settings_fall_back_to_defaults_on_a_hostile_workspace_file(tmp_path: Path) -> None:
    (tmp_path / "aios.yaml").write_text(BOMB)
    settings = MemorySettings.from_workspace(tmp_path)
    assert settings.storage == tmp_path.resolve() / ".aios"


def test_a_note_with_hostile_front_matter_is_read_as_text() -> None:
    chunks, meta = chunk_text("---\n" + BOMB + "---\n# Title\nBody text.\n", "note.md")
    assert meta == {}
    assert any("Body text." in c.text for c in chunks)


def test_empty_front_matter_is_still_front_matter() -> None:
    chunks, meta = chunk_text("---\n---\n# Title\nBody.\n", "note.md")
    assert meta == {}
    assert all("---" not in c.text for c in chunks)


def test_store_commands_survive_a_deep_workspace_file(tmp_path: Path) -> None:
    """`aios runs list` reads aios.yaml leniently; a 30,000-deep file used to crash libyaml's composer."""
    (tmp_path / "aios.yaml").write_text(DEEP)
    proc = subprocess.run([sys.executable, "-m", "aios", "runs", "list", "-w", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.returncode >= 0  # not killed by a signal
    assert "Traceback" not in proc.stdout + proc.stderr
