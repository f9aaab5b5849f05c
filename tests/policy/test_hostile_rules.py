"""Hostile literals in rules: out-of-range durations and over-long numbers are positioned diagnostics
at compile time, never a traceback from the parser or an overflow when a run asks for approval."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from aios.limits import MAX_DURATION_DAYS, MAX_INT_DIGITS
from tests.compiler.workspace_copy import copy_example, edit
from tests.conftest import ROOT, aios_cmd
from tests.policy.plans import compile_ok, compile_text


def errors(text: str) -> list[tuple[str, int, int, str]]:
    """(code, 1-based line, 1-based column, message) of each error compiling ``text``."""
    _, diags = compile_text(text)
    return [(d.code, d.span.line + 1, d.span.col + 1, d.message) for d in diags
            if d.severity.value == "error" and d.span is not None]


TIMEOUT = 'rule r\n  when action.connector == "cms.publish"\n  require approval "look" timeout {}\n'
EXPR = 'rule r when action.connector == "cms.publish" and now - run.started_at > {} deny "old"\n'
TIMEOUT_COL = TIMEOUT.splitlines()[2].index("{}") + 1  # 1-based column of the literal, on line 3
EXPR_COL = EXPR.index("{}") + 1


@pytest.mark.parametrize("literal", ["3000000d", "999999999999999d", f"{MAX_DURATION_DAYS + 1}d",
                                     f"{MAX_DURATION_DAYS}d1s", "9" * 30 + "ms", "99999999999999999999d"])
def test_a_timeout_beyond_the_limit_is_refused_at_the_literal(literal: str) -> None:
    (found,) = errors(TIMEOUT.format(literal))
    code, line, col, message = found
    assert (code, line, col) == ("rule-invalid-literal", 3, TIMEOUT_COL)
    assert f"longer than the limit of {MAX_DURATION_DAYS} days" in message


@pytest.mark.parametrize("literal", ["3000000d", "999999999999999d", "99999999999999999999d", "9" * 5000 + "w"])
def test_a_duration_in_an_expression_beyond_the_limit_is_refused(literal: str) -> None:
    (found,) = errors(EXPR.format(literal))
    assert found[:3] == ("rule-invalid-literal", 1, EXPR_COL)
    assert len(found[3]) < 200  # the literal is shortened in the message


def test_durations_at_the_limit_are_accepted() -> None:
    policy_set = compile_ok(TIMEOUT.format(f"{MAX_DURATION_DAYS}d"), EXPR.format(f"{MAX_DURATION_DAYS}d"))
    assert policy_set is not None
    compile_ok(EXPR.format(f"-{MAX_DURATION_DAYS}d"))


@pytest.mark.parametrize("literal, what", [
    ("9" * 5000, "integer"), ("9" * (MAX_INT_DIGITS + 1), "integer"),
    ("9" * (MAX_INT_DIGITS + 1) + ".5", "number"), ("9" * 5000 + " EUR", "amount"),
])
def test_an_over_long_number_is_refused_at_the_literal(literal: str, what: str) -> None:
    text = f'rule r when action.connector == "payments.refund" and action.input.amount_eur > {literal} deny "x"\n'
    if what != "amount":
        text = text.replace("action.input.amount_eur", "len(action.input.customer)")
    col = text.index(literal[:5]) + 1
    found = errors(text)
    assert [f[:3] for f in found] == [("rule-invalid-literal", 1, col)]
    assert f"longer than the limit of {MAX_INT_DIGITS} digits" in found[0][3]


def test_numbers_at_the_limit_are_accepted() -> None:
    refund = 'action.connector == "payments.refund" and len(action.input.customer)'
    compile_ok(f'rule r when {refund} > {"9" * MAX_INT_DIGITS} deny "x"\n'
               f'rule s when {refund} > {"9" * MAX_INT_DIGITS}.25 deny "y"\n')


@pytest.mark.parametrize("old, new", [
    ("timeout 2d", "timeout 3000000d"),
    ('now.weekday in ["sat", "sun"]', 'now.weekday in ["sat", "sun"] and now - run.started_at < 99999999999999999999d'),
    ("len(action.input.channels) <= 3", "len(action.input.channels) <= " + "9" * 5000),
])
def test_validate_reports_the_literal_without_a_traceback(tmp_path: Path, old: str, new: str) -> None:
    ws = copy_example(tmp_path / "ws")
    edit(ws / "policies" / "publishing.rules", old, new)
    proc = subprocess.run([*aios_cmd(), "validate", "--no-color", str(ws)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-2000:]
    assert "Traceback" not in out and "VisitError" not in out
    assert "policies/publishing.rules:" in out and "[rule-invalid-literal]" in out
