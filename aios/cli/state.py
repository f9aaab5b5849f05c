"""What the runtime commands share: locating the state store, compiling the plan for commands that
execute, printing live progress, and turning runtime errors into clean exits."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click

from aios.cli.common import EXIT_ERRORS, workspace_root
from aios.errors import AiosError

__all__ = ["workspace_option", "storage_dir", "open_store", "open_runtime", "fail", "echo_json", "echo_next", "short",
           "ProgressPrinter", "errors_as_exits", "EXIT_WAITING"]

EXIT_WAITING = 3

workspace_option = click.option("-w", "--workspace", "workspace", type=click.Path(file_okay=False), default=None,
                                help="The workspace folder (default: the nearest one holding aios.yaml).")


def fail(message: str, code: int = EXIT_ERRORS) -> NoReturn:
    click.echo(f"aios: error: {message}", err=True)
    sys.exit(code)


def echo_next(cursor: str) -> None:
    """Say, on stderr (stdout stays the page), how to ask for the next page of a keyset listing."""
    click.echo(f"next page: --after {cursor}", err=True)


@contextlib.contextmanager
def errors_as_exits() -> Iterator[None]:
    """Library errors, and failures of the storage (a full disk, a locked or read-only store), become
    a message and exit status 1 (the latter are also caught for every command in `aios.cli.main`)."""
    try:
        yield
    except AiosError as err:
        fail(str(err))
    except (sqlite3.Error, OSError) as err:
        from aios.storage_failures import is_storage_failure, storage_error

        if not is_storage_failure(err):
            raise
        fail(str(storage_error(err)))


def _workspace_file(root: Path) -> dict[str, Any]:
    """aios.yaml as plain data, read leniently without compiling the workspace."""
    from aios.load.yaml_limits import load_plain

    try:
        data = load_plain((root / "aios.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        data = None
    return data if isinstance(data, dict) else {}


def storage_dir(root: Path) -> Path:
    """The storage folder named in aios.yaml (read without compiling the workspace)."""
    storage = _workspace_file(root).get("storage")
    return root / (storage if isinstance(storage, str) and storage else ".aios")


def workspace_actor(workspace: str | None) -> str:
    """Who acts, read without compiling: $AIOS_ACTOR, else aios.yaml's runtime.actor, else `operator`
    (as `Runtime.actor`)."""
    runtime = _workspace_file(workspace_root(workspace)).get("runtime")
    actor = runtime.get("actor") if isinstance(runtime, dict) else None
    return os.environ.get("AIOS_ACTOR") or (actor if isinstance(actor, str) and actor else "operator")


def open_store(workspace: str | None, *, must_exist: bool = True) -> Any:
    """The state store, for commands that read it without compiling the workspace. The workspace's
    declared secrets are added to the masker first, so nothing printed from the store shows them."""
    from aios import masking
    from aios.runtime.store import Store

    root = workspace_root(workspace)
    data = _workspace_file(root)
    masking.watch(masking.declared_secrets(data))
    storage = data.get("storage")
    folder = root / (storage if isinstance(storage, str) and storage else ".aios")
    if must_exist and not (folder / "state.db").exists():
        fail(f"no state store at {folder} yet: nothing has run in this workspace", EXIT_ERRORS)
    with errors_as_exits():
        return Store.open(folder)


def open_runtime(workspace: str | None, *, quiet: bool = False, actor: str | None = None) -> Any:
    """Compile the workspace (diagnostics on failure, exit 1) and bind a runtime to its store."""
    from aios.compiler import compile_workspace
    from aios.diagnostics.render import SourceLines, render_text
    from aios.runtime.interpreter import Runtime

    root = workspace_root(workspace)
    result = compile_workspace(root)
    if result.plan is None:
        click.echo(render_text(result.diagnostics, SourceLines(result.root)), err=True)
        fail(f"the workspace does not compile ({result.errors} error(s)); see `aios validate`")
    printer = None if quiet else ProgressPrinter()
    with errors_as_exits():
        return Runtime(result.plan, root, actor=actor, progress=printer, retriever=_retriever(root, result.plan))


def _retriever(root: Path, plan: Any) -> Any:
    """The memory plane's search, when it provides one; retrieve steps return no hits otherwise."""
    try:
        from aios.memory import runtime_retriever
    except ImportError:
        return None
    try:
        return runtime_retriever(root, plan)
    except Exception:  # the index is optional for a run; a broken one must not stop it
        return None


_MARKS = {"completed": "✓", "previewed": "✓", "skipped": "·", "waiting": "⏸", "failed": "✗", "rejected": "✗", "retrying": "↻",
          "intent": "→", "approved": "✓", "cancelled": "✗", "running": "…"}


class ProgressPrinter:
    """Live progress (on stderr unless told otherwise), one line per step transition. In a dry run
    (``dry_run``) a connector step that "completed" only previewed its effect, and says so; the
    walk's throwaway run id is not shown."""

    def __init__(self, err: bool = True, *, dry_run: bool = False) -> None:
        self.err = err
        self.dry_run = dry_run

    def __call__(self, p: Any) -> None:
        if p.step_id is None:
            if self.dry_run:
                if p.status == "admitted":
                    click.echo("dry run" + (f": {p.detail}" if p.detail else ""), err=self.err)
            elif p.status in ("admitted", "resumed"):
                click.echo(f"run {p.run_id} {p.status}" + (f": {p.detail}" if p.detail else ""), err=self.err)
            return
        if p.status == "intent":
            return
        status = p.status
        if self.dry_run and status == "completed" and p.kind in ("connector", "compensation"):
            status = "previewed"
        mark = _MARKS.get(status, " ")
        ms = f"{p.ms:8.1f} ms" if p.ms is not None else " " * 11
        detail = f"  {p.detail}" if p.detail else ""
        click.echo(f"  {mark} {p.step_id:<18} {p.kind:<12} {status:<10}{ms}{detail}", err=self.err)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def short(value: Any, width: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("\n", "⏎ ")
    return text if len(text) <= width else text[: width - 1] + "…"

