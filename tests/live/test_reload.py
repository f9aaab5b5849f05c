"""Hot reload driven by real file edits, seen by the real watcher (watchfiles) on a thread: a valid
edit swaps the plan, an invalid one keeps it (stale) and reports like `aios validate`, editor save
patterns cause no spurious reloads, and a run in flight keeps the plan it started on."""

from __future__ import annotations

import io
import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aios.cli.main import cli
from aios.compiler import compile_workspace
from aios.live.console import Console
from aios.live.current import CurrentPlan
from aios.live.dispatch import Executor, dispatch_event
from aios.live.events import emitted_event
from aios.live.journal import JournalRow, open_store
from aios.live.reload import Reloader, ReloadReport, ReloadResult, is_source_path
from aios.runtime.interpreter import Runtime
from aios.runtime.runstate import Event

from .workspace import NOTES_PLAYBOOK


class Harness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = io.StringIO()
        self.reports: queue.Queue[ReloadReport] = queue.Queue()
        self.reloader = Reloader(root, None, Console(self.out), on_report=self.reports.put)
        result = self.reloader.compile()
        assert result.plan is not None, result.diagnostics
        self.current = CurrentPlan(result.plan)
        self.reloader.current = self.current
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.reloader.watch, args=(self.stop,), daemon=True)
        self.thread.start()
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Edit until the watcher answers (it needs a moment to register its watches)."""
        probe = self.root / "prompts" / "ready.j2"
        for i in range(100):
            probe.write_text(f"ready {i}\n")
            try:
                self.reports.get(timeout=0.3)
                break
            except queue.Empty:
                continue
        else:
            raise AssertionError("the watcher never reported")
        probe.unlink()
        assert self.next().result == ReloadResult.SWAPPED
        self.out.truncate(0)
        self.out.seek(0)

    def next(self, timeout: float = 15.0) -> ReloadReport:
        try:
            return self.reports.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no reload reported; output:\n" + self.out.getvalue()) from None

    def assert_quiet(self, wait: float = 0.8) -> None:
        time.sleep(wait)
        assert self.reports.empty(), [r.status_line() for r in list(self.reports.queue)]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture
def live(ws: Path) -> Iterator[Harness]:
    h = Harness(ws)
    try:
        yield h
    finally:
        h.close()


def _notes(ws: Path) -> Path:
    return ws / "playbooks" / "notes.yaml"


def test_valid_edit_swaps_the_plan(live: Harness, ws: Path) -> None:
    before = live.current.plan.content_hash
    _notes(ws).write_text(NOTES_PLAYBOOK.replace("needs a yes", "needs a clear yes"))
    report = live.next()
    assert report.result == ReloadResult.SWAPPED and report.changed == ("playbooks/notes.yaml",)
    fresh = compile_workspace(ws).plan
    assert fresh is not None and live.current.plan.content_hash == fresh.content_hash != before
    assert report.previous_hash == before and report.live_hash == fresh.content_hash
    assert live.current.known(before) is not None  # runs pinned to the old plan still find it
    line = live.out.getvalue()
    assert f"reload #{report.number}: 1 file changed (playbooks/notes.yaml) → plan {fresh.content_hash[:12]} live " \
           f"(was {before[:12]}) in " in line


def test_invalid_edit_keeps_the_last_good_plan_and_reports_like_validate(live: Harness, ws: Path) -> None:
    good = live.current.plan.content_hash
    _notes(ws).write_text(NOTES_PLAYBOOK.replace("needs: [check]", "needs: [chek]"))
    report = live.next()
    assert report.result == ReloadResult.FAILED and report.errors >= 1
    assert live.current.plan.content_hash == good and live.current.stale
    printed = live.out.getvalue()
    assert f"live plan {good[:12]} is STALE" in printed
    validated = CliRunner().invoke(cli, ["validate", "--no-color", str(ws)])
    assert validated.exit_code == 1 and "unknown-step" in validated.output
    assert validated.output in printed  # the very text `aios validate` prints
    _notes(ws).write_text(NOTES_PLAYBOOK)
    fixed = live.next()
    assert fixed.result == ReloadResult.SAME_PLAN and not live.current.stale  # back to the same plan
    assert live.current.plan.content_hash == good


def test_atomic_saves_temp_files_and_touches_cause_no_reload(live: Harness, ws: Path) -> None:
    notes = _notes(ws)
    tmp = ws / "playbooks" / ".notes.yaml.tmp4711"
    tmp.write_text(NOTES_PLAYBOOK)  # identical bytes, saved the atomic way
    os.replace(tmp, notes)
    os.utime(notes)
    for name in (".notes.yaml.swp", "notes.yaml~", "4913", "#notes.yaml#"):
        (ws / "playbooks" / name).write_text("not: [yaml")
        (ws / "playbooks" / name).unlink()
    (ws / ".aios").mkdir(exist_ok=True)
    (ws / ".aios" / "noise.yaml").write_text("x")
    live.assert_quiet()
    # the same atomic save with new content is exactly one reload
    tmp.write_text(NOTES_PLAYBOOK.replace("version: 1", "version: 2"))
    os.replace(tmp, notes)
    assert live.next().result == ReloadResult.SWAPPED
    live.assert_quiet()


def test_vim_style_save_and_several_quick_writes_give_one_clean_reload(live: Harness, ws: Path) -> None:
    notes = _notes(ws)
    backup = ws / "playbooks" / "notes.yaml~"
    os.rename(notes, backup)  # vim: move the original away, write a new file, drop the backup
    notes.write_text(NOTES_PLAYBOOK.replace("version: 1", "version: 3"))
    backup.unlink()
    report = live.next()
    assert report.result == ReloadResult.SWAPPED and report.changed == ("playbooks/notes.yaml",)
    live.assert_quiet()
    text = NOTES_PLAYBOOK.replace("version: 1", "version: 4")
    with open(notes, "w", encoding="utf-8") as fh:  # an editor writing in chunks
        for i in range(0, len(text), 40):
            fh.write(text[i:i + 40])
            fh.flush()
            time.sleep(0.002)
    report = live.next()
    assert report.result == ReloadResult.SWAPPED
    live.assert_quiet()
    assert live.current.plan.playbook_map["notes"].step("done").transform is not None
    assert "version: 4" in notes.read_text()


def test_deleting_and_restoring_a_file(live: Harness, ws: Path) -> None:
    start = live.current.plan.content_hash
    inbox = ws / "playbooks" / "inbox.yaml"
    saved = inbox.read_text()
    inbox.unlink()
    report = live.next()
    assert report.result == ReloadResult.SWAPPED and report.changed == ("playbooks/inbox.yaml",)
    assert sorted(live.current.plan.playbook_map) == ["notes", "orders"]
    inbox.write_text(saved)
    assert live.next().result == ReloadResult.SWAPPED
    assert live.current.plan.content_hash == start  # the same sources compile to the same plan


def test_connector_module_edit_is_a_code_reload(live: Harness, ws: Path) -> None:
    generation = live.current.code_generation
    module = ws / "connectors" / "ledger.py"
    module.write_text(module.read_text().replace('str(input["order"]) + "\\n"', '"v2:" + str(input["order"]) + "\\n"'))
    report = live.next()
    assert report.result == ReloadResult.SWAPPED and report.modules_reloaded == ("connectors/ledger.py",)
    assert live.current.code_generation == generation + 1


def test_is_source_path(ws: Path) -> None:
    yes = ["aios.yaml", "playbooks/a.yaml", "playbooks/sub/b.yml", "connectors/x.py", "connectors/c.yaml",
           "policies/p.rules", "prompts/p.j2", "prompts", "playbooks/subfolder"]
    no = ["README.md", ".aios/state.db", "playbooks/.a.yaml.swp", "playbooks/a.yaml~", "policies/p.test.txt",
          "connectors/__pycache__/x.cpython-311.pyc", "inbox/file.yaml", "prompts/#p.j2#"]
    assert [p for p in yes if not is_source_path(ws, ws / p)] == []
    assert [p for p in no if is_source_path(ws, ws / p)] == []


def test_a_run_in_flight_keeps_the_plan_it_started_on(live: Harness, ws: Path) -> None:
    plan_a = live.current.plan
    with Runtime(plan_a, ws) as rt:
        waiting = rt.start("notes", Event("note-a", "note.requested", "cli", "2026-01-01T00:00:00Z",
                                          {"title": "First"}))
    assert waiting.approval is not None
    _notes(ws).write_text(NOTES_PLAYBOOK.replace("version: 1", "version: 2"))
    assert live.next().result == ReloadResult.SWAPPED
    plan_b = live.current.plan
    assert plan_b.content_hash != plan_a.content_hash

    with open_store(ws / ".aios") as store:
        with Runtime(plan_b, ws, store=store) as rt_b:
            rt_b.decide(waiting.approval.id, approve=True, resume=False)
            ev = emitted_event("note.requested", {"title": "Second"}, event_id="note-b")
            with store.transaction() as conn:
                from aios.live.journal import accept

                accept(conn, [ev])
            new = dispatch_event(rt_b, JournalRow(1, ev, "pending", 1))
        executor = Executor(ws, ws / ".aios", live.current, Console(io.StringIO()), workers=1)
        executor.start()
        executor.submit(waiting.run_id)
        deadline = time.monotonic() + 30
        while executor.busy:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert executor.stop(5) == 0
        old = store.query("SELECT plan_hash, status FROM runs WHERE id = ?", (waiting.run_id,))[0]
        assert (old["plan_hash"], old["status"]) == (plan_a.content_hash, "completed")
        done = store.query("SELECT body FROM log WHERE run_id = ? AND step_id = 'done' AND type = 'step.completed'",
                           (waiting.run_id,))
        assert json.loads(done[0]["body"])["out"] == {"filed": "First", "version": 1}  # plan A's step
        fresh = store.query("SELECT plan_hash FROM runs WHERE id = ?", (new.new_runs[0],))[0]
        assert fresh["plan_hash"] == plan_b.content_hash
