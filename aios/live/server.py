"""The live server process behind `aios serve` and `aios dev`.

Threads, each with its own connection to the state database:

* the main thread supervises: it handles SIGINT/SIGTERM and runs the shutdown sequence;
* uvicorn serves the webhook app (`aios.live.webhooks`) on its own event loop;
* the journal writer (`GroupCommitter`) commits accepted events in groups;
* the dispatcher admits runs for pending events and resumes released runs; executors run them;
* the scheduler and the drop-folder watcher journal their events directly;
* with ``reload`` (`aios dev`), the reloader watches the workspace and swaps the plan.

Shutdown: stop intake (new deliveries get 503, open requests finish), stop producing events, flush the
journal, stop admitting, then give running runs ``grace_s`` to reach a stop. Whatever is still
executing then stops with the process; every step is one transaction, so those runs resume from their
last completed step on the next start. Nothing is half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aios.live import journal
from aios.live.checks import environment_notes, live_diagnostics
from aios.live.console import Console
from aios.live.current import CurrentPlan
from aios.live.dispatch import Dispatcher, Executor, default_runtime_factory
from aios.live.drops import DropWatcher
from aios.live.indexer import Indexer
from aios.live.journal import GroupCommitter
from aios.live.lock import ServerLock
from aios.live.reload import Reloader, validate_text
from aios.live.routing import drop_folders, scheduled, webhook_sources
from aios.live.scheduler import Scheduler
from aios.live.timetable import schedules
from aios.live.webhooks import DEFAULT_MAX_BODY, DEFAULT_REPLAY_WINDOW_S, IntakeConfig, webhook_app
from aios.notify.sender import SenderThread
from aios.plan.plan import Plan
from aios.runtime.interpreter import Retriever

__all__ = ["ServeOptions", "LiveServer", "ServerHooks", "AppWrapper", "memory_retriever"]


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8787
    max_body: int = DEFAULT_MAX_BODY
    replay_window_s: float = DEFAULT_REPLAY_WINDOW_S
    workers: int = 2
    grace_s: float = 10.0
    poll_s: float = 0.25
    schedules: bool = True
    drops: bool = True
    reload: bool = False
    step_ms: int = 30
    force_polling: bool | None = None


@dataclass(frozen=True)
class ServerHooks:
    """What an app served beside the webhooks (the dashboard) may use of the running server."""
    root: Path
    storage_dir: Path
    plan: Callable[[], Plan]
    release: Callable[[str], None]  # hand a run (e.g. released by an approval) to the executor
    stopping: Callable[[], bool]


#: wraps the webhook app into the one app served on the port (`aios.web.app.mount_dashboard`)
AppWrapper = Callable[[Any, ServerHooks], Any]


def memory_retriever(root: Path, storage_dir: Path) -> Callable[[Plan], Retriever | None]:
    """The memory plane's search for retrieve steps, when it is available (as `aios run` uses it)."""
    def make(plan: Plan) -> Retriever | None:
        try:
            from aios.memory import runtime_retriever
        except ImportError:
            return None
        try:
            return runtime_retriever(root, plan, storage_dir)
        except Exception:  # an unusable index must not stop runs; retrieve steps then find nothing
            return None
    return make


class _Uvicorn:
    """uvicorn on a thread of its own, on a socket bound by us (so port 0 works and is known)."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        import uvicorn

        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=5, server_header=False, date_header=False)
        self.server = uvicorn.Server(config)
        self.sock = sock
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="aios-http", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as err:  # reported by the supervisor
            self.error = err

    def start(self, timeout: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the HTTP server did not start: {self.error!r}")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class LiveServer:
    def __init__(self, root: Path, plan: Plan, options: ServeOptions, console: Console, *,
                 reloader: Reloader | None = None, mode: str = "serve", wrap_app: AppWrapper | None = None) -> None:
        self.root = root.resolve()
        self.options = options
        self.console = console
        self.mode = mode
        self.wrap_app = wrap_app
        self.storage_dir = self.root / plan.settings.storage
        self.current = CurrentPlan(plan)
        self.reloader = reloader
        if reloader is not None:
            reloader.current = self.current
        self._stop = threading.Event()
        self.url: str | None = None
        self.current.on_swap(self._after_swap)

    # -- lifecycle ------------------------------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handle(sig: int, frame: Any) -> None:
            if self._stop.is_set() and sig == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop waiting for runs
            self.console.line("stopping (signal received): finishing in-flight work")
            self._stop.set()

        for s in previous:
            signal.signal(s, handle)
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM (or `request_stop`). Returns the exit status."""
        opts = self.options
        lock = ServerLock(self.storage_dir)
        lock.acquire({"mode": self.mode})
        try:
            journal.open_store(self.storage_dir).close()  # schema in place before any thread starts
            indexer = Indexer(self.root, self.storage_dir, self.current, self.console)
            executor = Executor(self.root, self.storage_dir, self.current, self.console, workers=opts.workers,
                                make_runtime=default_runtime_factory(self.root, self.storage_dir,
                                                                     memory_retriever(self.root, self.storage_dir)),
                                on_run_end=indexer.wake)
            dispatcher = Dispatcher(self.root, self.storage_dir, self.current, executor, self.console,
                                    poll_s=opts.poll_s)
            committer = GroupCommitter(self.storage_dir, on_commit=dispatcher.wake)
            committer.start()
            intake = IntakeConfig(plan=lambda: self.current.plan, journal=committer, max_body=opts.max_body,
                                  replay_window_s=opts.replay_window_s,
                                  status=lambda: {"stale": self.current.stale, "mode": self.mode,
                                                  "active_runs": executor.busy,
                                                  "dispatched": dispatcher.dispatched})
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((opts.host, opts.port))
            except OSError as err:
                sock.close()
                committer.close()
                self.console.block(f"aios: error: cannot listen on {opts.host}:{opts.port}: {err.strerror}")
                return 1
            sock.listen(512)
            port = sock.getsockname()[1]
            self.url = f"http://{opts.host}:{port}"
            lock.update({"mode": self.mode, "url": self.url, "port": port})
            app: Any = webhook_app(intake)
            if self.wrap_app is not None:
                app = self.wrap_app(app, ServerHooks(self.root, self.storage_dir, lambda: self.current.plan,
                                                     release=lambda run_id: (executor.submit(run_id), None)[1],
                                                     stopping=lambda: intake.closing or self._stop.is_set()))
            http = _Uvicorn(app, sock)
            notifier = SenderThread(self.root, self.storage_dir, lambda: self.current.plan, self.url)
            producers: list[Any] = []
            if opts.schedules:
                producers.append(Scheduler(self.storage_dir, self.current, self.console, on_event=dispatcher.wake))
            if opts.drops:
                producers.append(DropWatcher(self.root, self.storage_dir, self.current, self.console,
                                             on_event=dispatcher.wake, force_polling=opts.force_polling))
            watch_stop = threading.Event()
            watch_thread = None
            if self.reloader is not None:
                watch_thread = threading.Thread(target=self.reloader.watch, args=(watch_stop,),
                                                name="aios-reload", daemon=True)
            with self._signals():
                indexer.start()
                executor.start()
                dispatcher.start()
                notifier.start()
                for p in producers:
                    p.start()
                http.start()
                if watch_thread is not None:
                    watch_thread.start()
                self._announce()
                try:
                    while not self._stop.wait(0.5):
                        if not http.thread.is_alive():
                            self.console.line(f"the HTTP server stopped unexpectedly: {http.error!r}")
                            break
                except KeyboardInterrupt:
                    pass
                intake.closing = True
                http.stop()
                watch_stop.set()
                if watch_thread is not None:
                    watch_thread.join(timeout=5)
                for p in producers:
                    p.stop()
                committer.close()
                dispatcher.stop()
                left = executor.stop(opts.grace_s)
                notifier.stop()
                indexer.stop()
            if left:
                self.console.line(f"stopped; {left} run(s) still executing were left resumable "
                                  "(they continue on the next start)")
            else:
                self.console.line("stopped")
            self.console.close()
            return 0
        finally:
            lock.release()

    # -- output ---------------------------------------------------------------------------------

    def _announce(self) -> None:
        plan = self.current.plan
        self.console.line(f"aios {self.mode}: listening on {self.url} — plan {plan.content_hash[:12]} "
                          f"({len(plan.playbooks)} playbooks), storage {self._rel(self.storage_dir)}")
        if self.wrap_app is not None:
            self.console.line(f"dashboard: {self.url}/ (log in with a token from `aios token create --name NAME`)")
        sources = webhook_sources(plan)
        if sources:
            self.console.line("webhooks: " + ", ".join(f"POST {self.url}/hooks/{n}" for n in sorted(sources)))
        if scheduled(plan):
            self.console.line("schedules: " + ", ".join(f"{s.playbook} ({s.cron}, {s.timezone}, missed: {s.missed})"
                                                        for s in schedules(plan)))
        if drop_folders(plan):
            self.console.line("drop folders: " + ", ".join(f"{f}/" for f in sorted(drop_folders(plan))))
        self._live_checks(plan)
        if self.reloader is not None:
            self.console.line("watching playbooks/ connectors/ policies/ prompts/ aios.yaml for changes")

    def _live_checks(self, plan: Plan) -> None:
        diags = live_diagnostics(plan)
        if diags:
            self.console.block(validate_text(diags, self.root, None))
        for note in environment_notes(plan):
            self.console.line(note)

    def _after_swap(self, old: Plan, new: Plan) -> None:
        if webhook_sources(old) != webhook_sources(new) or scheduled(old) != scheduled(new):
            self._live_checks(new)

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)
