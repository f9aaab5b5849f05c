"""A reload that fails marks the live plan stale and says why: a user's error as the positioned
diagnostic `aios validate` prints, an unexpected exception (a bug) as a line on the console.

Reloads are driven by calling the reloader directly (no watcher): what is tested is what a reload
does with its result, not how changes are noticed (tests/live/test_reload.py covers that)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from aios.live import reload as reload_module
from aios.live.console import Console
from aios.live.current import CurrentPlan
from aios.live.reload import Reloader, ReloadResult

from .workspace import RULES


def _reloader(ws: Path) -> tuple[Reloader, CurrentPlan, io.StringIO]:
    out = io.StringIO()
    reloader = Reloader(ws, None, Console(out))
    result = reloader.compile()
    assert result.plan is not None, result.diagnostics
    current = CurrentPlan(result.plan)
    reloader.current = current
    return reloader, current, out


def test_a_rule_literal_out_of_range_is_a_positioned_diagnostic_and_the_plan_goes_stale(ws: Path) -> None:
    reloader, current, out = _reloader(ws)
    good = current.plan.content_hash
    bad = RULES.replace('"ledger.append"', '"ledger.append" and now - run.started_at > 99999999999999999999d')
    (ws / "policies" / "live.rules").write_text(bad)
    report = reloader.reload_reporting_failures()
    assert report is not None and report.result == ReloadResult.FAILED
    assert current.stale and current.plan.content_hash == good
    col = bad.splitlines()[3].index("99999") + 1
    printed = out.getvalue()
    assert f"policies/live.rules:4:{col}: error: the duration `" in printed
    assert "[rule-invalid-literal]" in printed and f"live plan {good[:12]} is STALE" in printed
    assert "VisitError" not in printed and "reload failed" not in printed


def test_an_unexpected_exception_marks_the_plan_stale_and_is_reported(ws: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    reloader, current, out = _reloader(ws)
    good = current.plan.content_hash

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("compiler bug \x1b[2J")

    monkeypatch.setattr(reload_module, "compile_sources", broken)
    (ws / "policies" / "live.rules").write_text(RULES.replace("fine", "still fine"))
    assert reloader.reload_reporting_failures() is None
    assert current.stale and current.plan.content_hash == good
    printed = out.getvalue()
    assert f"reload failed: RuntimeError: compiler bug \\x1b[2J; live plan {good[:12]} is STALE" in printed
    assert "\x1b" not in printed
    monkeypatch.undo()
    (ws / "policies" / "live.rules").write_text(RULES)  # the disk is good again: not stale any more
    report = reloader.reload_reporting_failures()
    assert report is not None and report.result in (ReloadResult.SAME_PLAN, ReloadResult.SWAPPED)
    assert not current.stale
