"""Golden files: each ``golden/<case>.rules`` must produce exactly the diagnostics in ``<case>.expected``
(severity, code, 1-based line and column, message). Regenerate with ``AIOS_UPDATE_GOLDEN=1``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.policy.plans import compile_text

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.rules"))
UPDATE = os.environ.get("AIOS_UPDATE_GOLDEN") == "1"


def render(case: str) -> str:
    text = (GOLDEN / f"{case}.rules").read_text(encoding="utf-8")
    _, diags = compile_text((f"policies/{case}.rules", text))
    lines = []
    for d in diags:
        assert d.span is not None, d
        lines.append(f"{d.span.line + 1}:{d.span.col + 1}: {d.severity.value}: [{d.code}] {d.message}")
    return "\n".join(lines) + "\n"


def test_enough_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    expected_file = GOLDEN / f"{case}.expected"
    got = render(case)
    if UPDATE:
        expected_file.write_text(got, encoding="utf-8")
    assert expected_file.is_file(), f"missing {expected_file.name}; run with AIOS_UPDATE_GOLDEN=1"
    assert got == expected_file.read_text(encoding="utf-8")
    assert got.strip(), "a golden case must produce at least one diagnostic"
