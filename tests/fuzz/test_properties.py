"""The fuzzing properties, CI-sized: hostile input never escapes as a traceback, a signal or a hang.

In-process Hypothesis runs (which shrink a failure to a small case) cover each boundary; one run of
`bench/fuzz.py` in watched child processes covers signals and hangs, which would take pytest down
with them in-process. A longer run: ``python bench/fuzz.py --cases 10000 --json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import ROOT, TARGETS, FuzzWorkspace, HypothesisChooser, execute, generate


@pytest.fixture(scope="module")
def ws() -> Iterator[FuzzWorkspace]:
    w = FuzzWorkspace()
    yield w
    w.close()


def _check(ws: FuzzWorkspace, target: str, data: st.DataObject) -> None:
    case = generate(target, HypothesisChooser(data), ws)
    outcome = execute(ws, case)
    assert outcome.ok, f"{case.describe()}\n{outcome.detail}"


_SETTINGS = settings(max_examples=60, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                            HealthCheck.data_too_large])


@_SETTINGS
@given(data=st.data())
def test_workspace_yaml_gives_positioned_diagnostics(ws: FuzzWorkspace, data: st.DataObject) -> None:
    _check(ws, "yaml", data)


@_SETTINGS
@given(data=st.data())
def test_rule_files_give_positioned_diagnostics(ws: FuzzWorkspace, data: st.DataObject) -> None:
    _check(ws, "rules", data)


@_SETTINGS
@given(data=st.data())
def test_event_bodies_are_refused_clearly_or_run_to_an_end(ws: FuzzWorkspace, data: st.DataObject) -> None:
    _check(ws, "event", data)


@_SETTINGS
@given(data=st.data())
def test_decision_contexts_are_refused_clearly_or_decided(ws: FuzzWorkspace, data: st.DataObject) -> None:
    _check(ws, "context", data)


def test_no_target_outlives_a_signal_or_a_hang_in_a_watched_run() -> None:
    """400 seeded cases across the four targets in child processes: 0 tracebacks, crashes and hangs."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz.py"), "--cases", "400", "--seed", "7",
                           "--json"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["cases"] == 400
    assert set(report["per_target"]) == set(TARGETS)
    assert (report["tracebacks"], report["crashes"], report["hangs"]) == (0, 0, 0), report["failures"]
    # the run really exercised the targets: most cases got past the intake checks
    assert report["refused"] < report["cases"]
