"""Each golden case is a broken workspace plus the exact diagnostics (code, line, column) it gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aios.compiler import compile_workspace
from aios.diagnostics import CODES
from tests.compiler.golden_cases import materialize, parse_case, write_case

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(GOLDEN.glob("*.case"))
UPDATE = os.environ.get("AIOS_UPDATE_GOLDEN") == "1"


def _actual(tmp_path: Path, case_path: Path) -> tuple[list[str], object]:
    case = parse_case(case_path)
    materialize(case, tmp_path)
    result = compile_workspace(tmp_path)
    lines = []
    for d in result.diagnostics:
        where = f"{d.span.file}:{d.span.line + 1}:{d.span.col + 1}" if d.span else "-"
        lines.append(f"{where}: {d.severity.value} {d.code}")
    return lines, case


@pytest.mark.parametrize("case_path", CASES, ids=[c.stem for c in CASES])
def test_golden(tmp_path: Path, case_path: Path) -> None:
    actual, case = _actual(tmp_path, case_path)
    if UPDATE:
        write_case(case, actual)  # type: ignore[arg-type]
        return
    assert actual == case.expect  # type: ignore[attr-defined]


def test_enough_cases() -> None:
    assert len(CASES) >= 40


def test_every_compiler_code_is_covered() -> None:
    """Every code of the load/spec/check stages appears in some golden case."""
    expected: set[str] = set()
    for c in CASES:
        for line in parse_case(c).expect:
            expected.add(line.rsplit(" ", 1)[-1])
    stage_codes = {name for name, code in CODES.items() if code.stage in ("load", "spec", "check")}
    assert stage_codes - expected - COVERED_ELSEWHERE.keys() == set()


COVERED_ELSEWHERE = {
    "yaml-too-large": "tests/compiler/test_hostile_files.py: a case file over 2 MiB would not be readable",
}
