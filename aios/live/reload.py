"""Transactional hot reload: watch the workspace, recompile it whole, swap the plan only when clean.

The watcher only says *that* something may have changed. What changed is decided by content: the
workspace is read (the compiler's own `discover`), fingerprinted per file, and compared with what the
last compile read, so a touch, an editor's temp file coming and going, or a save of identical bytes
is no reload at all. A read is repeated until every relevant file has the same size and modification
time before and after it, so a file caught half-written is read again rather than compiled.

The compile is exactly `aios.compiler.compile_workspace` (``discover`` then ``compile_sources`` on the
sources read), so a reload accepts what `aios validate` accepts and reports what it reports, rendered
by the same renderer. A `CompileCache` kept across reloads makes that cheap: only files whose text
changed are parsed again, and playbooks are checked again only when they, or anything they are
checked against (aios.yaml, schemas, agents, connectors, flags, prompts), changed. A clean result is
swapped in (`CurrentPlan.swap`); a failing one leaves the last good plan live and marks it stale.

Connector modules (``connectors/*.py``) are part of the fingerprint: an edit recompiles (the compiler
imports them to check them) and, when clean, bumps ``CurrentPlan.code_generation`` so executors resolve
connectors afresh; the connector loader caches modules by content, so the edited code is what runs.

Two watchers feed the reloader: the workspace root, not recursively (``aios.yaml``, new folders), and
the source folders (``playbooks connectors policies prompts``) recursively. The storage folder is
deliberately not watched: the state database changes on every step and would keep the watcher from
ever seeing a quiet moment.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from aios.compiler import CompileCache, CompileResult, compile_sources
from aios.diagnostics import Diagnostic, DiagnosticSink, Severity
from aios.diagnostics.render import SourceLines, render_text, summary, visible
from aios.live.console import Console
from aios.live.current import CurrentPlan
from aios.load.workspace_files import WORKSPACE_FILE, WorkspaceSources, discover

__all__ = ["STEP_MS", "Reloader", "ReloadReport", "ReloadResult", "validate_text", "SOURCE_DIRS", "is_source_path"]

STEP_MS = 30  # quiet time before a reload: longer than an editor save takes, short enough to feel instant
SOURCE_DIRS = ("playbooks", "connectors", "policies", "prompts")
_SUFFIXES = {"playbooks": (".yaml", ".yml"), "connectors": (".yaml", ".yml", ".py"), "policies": (".rules",),
             "prompts": (".j2", ".jinja", ".jinja2")}
_TEMP_SUFFIXES = ("~", ".swp", ".swx", ".tmp", ".bak", ".orig", ".part")

class ReloadResult:
    SWAPPED = "swapped"  # a new plan is live
    SAME_PLAN = "same-plan"  # files changed but the plan did not (comments, formatting)
    FAILED = "failed"  # the workspace does not compile; the last good plan stays live (stale)
    UNCHANGED = "unchanged"  # nothing relevant changed (touch, temp files, identical bytes)


@dataclass(frozen=True)
class ReloadReport:
    number: int
    changed: tuple[str, ...]
    result: str
    live_hash: str  # the plan new runs start on after this reload
    previous_hash: str
    diagnostics: tuple[Diagnostic, ...]
    ms: float
    modules_reloaded: tuple[str, ...] = ()

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)

    def status_line(self) -> str:
        files = ", ".join(self.changed[:3]) + (f" and {len(self.changed) - 3} more" if len(self.changed) > 3 else "")
        head = f"reload #{self.number}: {len(self.changed)} file{'s' if len(self.changed) != 1 else ''} changed ({files})"
        took = f"in {self.ms:.0f} ms"
        if self.result == ReloadResult.SWAPPED:
            mods = f", reloaded {', '.join(self.modules_reloaded)}" if self.modules_reloaded else ""
            if self.live_hash == self.previous_hash:
                return f"{head} → plan {self.live_hash[:12]} live (unchanged){mods} {took}"
            return f"{head} → plan {self.live_hash[:12]} live (was {self.previous_hash[:12]}){mods} {took}"
        if self.result == ReloadResult.SAME_PLAN:
            return f"{head} → no plan change (plan {self.live_hash[:12]}) {took}"
        return (f"{head} → {summary(self.diagnostics)}; live plan {self.live_hash[:12]} is STALE "
                f"(last good; fix the errors to reload) {took}")


def validate_text(diags: Iterable[Diagnostic], root: Path, plan_hash: str | None,
                  texts: dict[str, str] | None = None) -> str:
    """Diagnostics and summary exactly as `aios validate` prints them (without colour)."""
    diags = tuple(diags)
    text = render_text(diags, SourceLines(root, texts))
    tail = summary(diags)
    if plan_hash:
        tail += f"; plan {plan_hash[:12]}"
    return ("" if not text else text + "\n\n") + tail


def is_source_path(root: Path, path: str | Path) -> bool:
    """Could a change to ``path`` change the plan? (Folders count: a deleted folder removes files.)"""
    try:
        rel = Path(path).resolve().relative_to(root) if Path(path).is_absolute() else Path(path)
    except ValueError:
        return False
    parts = rel.parts
    if not parts:
        return False
    if len(parts) == 1:
        return parts[0] == WORKSPACE_FILE or parts[0] in SOURCE_DIRS
    if parts[0] not in SOURCE_DIRS or "__pycache__" in parts:
        return False
    name = parts[-1]
    if name.startswith((".#", "#")) or name.endswith(_TEMP_SUFFIXES):
        return False
    return "." not in name or name.endswith(_SUFFIXES[parts[0]])


def _stat_tree(root: Path) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    try:
        st = os.stat(root / WORKSPACE_FILE)
        out[WORKSPACE_FILE] = (st.st_size, st.st_mtime_ns)
    except OSError:
        pass
    for folder in SOURCE_DIRS:
        suffixes = _SUFFIXES[folder]
        stack = [root / folder]
        while stack:
            here = stack.pop()
            try:
                entries = list(os.scandir(here))
            except OSError:
                continue
            for e in entries:
                try:
                    if e.is_dir():
                        stack.append(Path(e.path))
                    elif e.name.endswith(suffixes):
                        s = e.stat()
                        out[Path(e.path).relative_to(root).as_posix()] = (s.st_size, s.st_mtime_ns)
                except OSError:
                    out[e.name] = (-1, -1)  # vanished while listing: not stable
    return out


@dataclass(frozen=True)
class _Snapshot:
    sources: WorkspaceSources
    sink: DiagnosticSink
    modules: dict[str, str]  # connectors/*.py → text
    fingerprint: dict[str, str]  # workspace-relative path → sha256 of its content
    attempts: int


class Reloader:
    def __init__(self, root: Path, current: CurrentPlan | None, console: Console | None = None, *,
                 step_ms: int = STEP_MS, debounce_ms: int = 1600, force_polling: bool | None = None,
                 on_report: Callable[[ReloadReport], None] | None = None, stable_tries: int = 8) -> None:
        self.root = root.resolve()
        self.current = current
        self.console = console
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self.force_polling = force_polling
        self.on_report = on_report
        self.stable_tries = stable_tries
        self._fingerprint: dict[str, str] | None = None
        self._cache = CompileCache()  # unchanged files are not parsed, nor unaffected playbooks checked, again
        self._count = 0
        self._lock = threading.Lock()
        self.reports: list[ReloadReport] = []

    # -- reading and compiling ------------------------------------------------------------------

    def _snapshot(self) -> _Snapshot:
        attempt = 0
        while True:
            attempt += 1
            before = _stat_tree(self.root)
            sink = DiagnosticSink()
            sources = discover(self.root, sink)
            modules: dict[str, str] = {}
            for rel in sources.connector_modules:
                try:
                    modules[rel] = (self.root / rel).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    modules[rel] = ""
            after = _stat_tree(self.root)
            if before == after or attempt >= self.stable_tries:
                break
            time.sleep(self.step_ms / 1000)
        fp = {f.path: hashlib.sha256(f.text.encode()).hexdigest() for f in sources.all_files()}
        fp.update({p: hashlib.sha256(t.encode()).hexdigest() for p, t in modules.items()})
        for d in sink.items:  # an unreadable file still counts as "present, in this state"
            if d.span is not None and d.span.file not in fp:
                fp[d.span.file] = "unreadable:" + d.message
        return _Snapshot(sources, sink, modules, fp, attempt)

    def compile(self) -> CompileResult:
        """Compile the workspace now (the start of `aios dev`); remembers what was read."""
        snap = self._snapshot()
        result = self._compile(snap)
        self._fingerprint = snap.fingerprint
        return result

    def _compile(self, snap: _Snapshot) -> CompileResult:
        """Exactly `compile_workspace`: `discover` (done by the snapshot) then `compile_sources`, which
        reuses what the last compile read and checked wherever its inputs are unchanged."""
        plan = compile_sources(snap.sources, snap.sink, self._cache)
        return CompileResult(self.root, plan, snap.sink.sorted(), snap.sources)

    # -- one reload -----------------------------------------------------------------------------

    def reload(self) -> ReloadReport | None:
        """Re-read the workspace; recompile and swap if anything relevant changed. None: nothing did."""
        assert self.current is not None, "reload() needs a CurrentPlan"
        with self._lock:
            t0 = time.perf_counter()
            snap = self._snapshot()
            old_fp = self._fingerprint or {}
            changed = tuple(sorted(p for p in set(old_fp) | set(snap.fingerprint)
                                   if old_fp.get(p) != snap.fingerprint.get(p)))
            if not changed:
                return None
            try:
                result = self._compile(snap)
            except Exception:  # a compiler bug: the disk is not known to be good, so the live plan is stale
                self._fingerprint = snap.fingerprint  # (and going back to the good files is a change)
                self.current.mark_stale()
                raise
            self._fingerprint = snap.fingerprint
            previous = self.current.plan.content_hash
            modules: tuple[str, ...] = ()
            texts = {f.path: f.text for f in snap.sources.all_files()} | snap.modules
            if result.plan is None:
                self.current.mark_stale()
                outcome = ReloadResult.FAILED
            else:
                modules = tuple(p for p in changed if p.startswith("connectors/") and p.endswith(".py"))
                if result.plan.content_hash == previous and not modules:
                    self.current.swap(result.plan)  # clears a stale mark: the disk is good again
                    outcome = ReloadResult.SAME_PLAN
                else:
                    self.current.swap(result.plan, code_changed=bool(modules))
                    outcome = ReloadResult.SWAPPED
            self._count += 1
            report = ReloadReport(self._count, changed, outcome, self.current.plan.content_hash, previous,
                                  result.diagnostics, (time.perf_counter() - t0) * 1000, modules)
            self.reports = [*self.reports[-49:], report]
        self._announce(report, texts)
        if self.on_report is not None:
            self.on_report(report)
        return report

    def reload_reporting_failures(self) -> ReloadReport | None:
        """`reload` for the watcher: an unexpected exception (a bug; user errors are diagnostics) is
        printed and ends only this reload, never `aios dev`; `reload` has marked the live plan stale."""
        try:
            return self.reload()
        except Exception as err:
            if self.console is not None:
                live = f"; live plan {self.current.plan.content_hash[:12]} is STALE" if self.current else ""
                self.console.line(f"reload failed: {type(err).__name__}: {visible(str(err))[:500]}{live} "
                                  "(a bug in aios: please report it with the change that caused it)")
            return None

    def _announce(self, report: ReloadReport, texts: dict[str, str]) -> None:
        if self.console is None:
            return
        self.console.line(report.status_line())
        if report.diagnostics:
            plan_hash = report.live_hash if report.result != ReloadResult.FAILED else None
            self.console.block(validate_text(report.diagnostics, self.root, plan_hash, texts))

    # -- watching -------------------------------------------------------------------------------

    def watch(self, stop: threading.Event) -> None:
        """Reload on every change until ``stop`` is set (blocking; run it on a thread)."""

        def on_change() -> bool:
            self.reload_reporting_failures()
            return True

        self._watch_loop(stop, on_change)

    def wait_until_clean(self, stop: threading.Event) -> CompileResult | None:
        """Before there is a good plan: recompile on each change until the workspace compiles."""
        found: list[CompileResult] = []

        def on_change() -> bool:
            before = self._fingerprint
            result = self.compile()
            if self._fingerprint == before:
                return True
            if self.console is not None:
                self.console.block(validate_text(result.diagnostics, self.root,
                                                 result.plan.content_hash if result.plan else None))
            if result.plan is not None:
                found.append(result)
                return False
            return True

        self._watch_loop(stop, on_change)
        return found[0] if found else None

    def _watch_loop(self, stop: threading.Event, on_change: Callable[[], bool]) -> None:
        """Call ``on_change`` after each batch of changes (and once when the watchers are surely in
        place, to catch an edit made while they were starting), until it returns False or ``stop``."""
        changes: queue.SimpleQueue[bool] = queue.SimpleQueue()
        restart = threading.Event()
        watchers: list[threading.Thread] = []

        def start_watchers() -> None:
            restart.clear()
            dirs = [self.root / d for d in SOURCE_DIRS if (self.root / d).is_dir()]
            halt = _AnyEvent(stop, restart)
            watchers[:] = [threading.Thread(target=self._watch_paths, args=([self.root], False, halt, changes),
                                            name="aios-watch-root", daemon=True)]
            if dirs:
                watchers.append(threading.Thread(target=self._watch_paths, args=(dirs, True, halt, changes),
                                                 name="aios-watch-sources", daemon=True))
            for t in watchers:
                t.start()

        watched = {d for d in SOURCE_DIRS if (self.root / d).is_dir()}
        start_watchers()
        try:
            while not stop.is_set():
                try:
                    changes.get(timeout=0.2)
                except queue.Empty:
                    continue
                while True:  # coalesce what both watchers reported
                    try:
                        changes.get_nowait()
                    except queue.Empty:
                        break
                now = {d for d in SOURCE_DIRS if (self.root / d).is_dir()}
                if now != watched:  # a source folder appeared or went away: watch the new set
                    watched = now
                    restart.set()
                    for t in watchers:
                        t.join()
                    start_watchers()
                if not on_change():
                    break
        finally:
            restart.set()
            for t in watchers:
                t.join()

    def _watch_paths(self, paths: list[Path], recursive: bool, halt: _AnyEvent,
                     out: queue.SimpleQueue[bool]) -> None:
        import watchfiles

        def relevant(_change: object, path: str) -> bool:
            return is_source_path(self.root, path)

        ready = False
        try:
            for batch in watchfiles.watch(*paths, watch_filter=relevant, debounce=self.debounce_ms,
                                          step=self.step_ms, stop_event=halt, rust_timeout=500,
                                          yield_on_timeout=True, raise_interrupt=False,
                                          force_polling=self.force_polling, poll_delay_ms=100, recursive=recursive):
                if batch or not ready:  # the first timeout: watching for sure, look once for missed edits
                    out.put(True)
                ready = True
        except FileNotFoundError:  # the folder went away; the loop restarts the watchers
            out.put(True)


class _AnyEvent:
    """Set when either event is (watchfiles only needs ``is_set``)."""

    def __init__(self, a: threading.Event, b: threading.Event) -> None:
        self._a, self._b = a, b

    def is_set(self) -> bool:
        return self._a.is_set() or self._b.is_set()
