"""How the interpreter calls a connector: a name, an input, an idempotency key and provenance in;
an output mapping out.

A connector implementation is any callable taking a `ConnectorCall`. Resolution order: an explicit
registration (tests, embedding applications), then the built-in implementations, then a workspace
connector's ``module: file:function`` (``connectors/<file>.py`` in the workspace). Implementations
must treat the idempotency key as the identity of the effect: called twice with the same key, the
effect happens once and the same output comes back. The interpreter guarantees the key is the same
on every retry and after a crash.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aios.errors import RunError
from aios.plan.plan import Plan

__all__ = ["Provenance", "ConnectorCall", "ConnectorFn", "ConnectorFailed", "ConnectorRegistry", "is_transient"]


@dataclass(frozen=True, slots=True)
class Provenance:
    run_id: str
    step_id: str
    plan_hash: str
    playbook: str
    attempt: int = 1
    item: int | None = None  # the index of a map step's item


@dataclass(frozen=True, slots=True)
class ConnectorCall:
    connector: str
    input: Mapping[str, Any]
    idempotency_key: str
    provenance: Provenance
    settings: Mapping[str, Any] = field(default_factory=dict)  # this connector's block in aios.yaml
    workspace: Path = Path(".")
    storage: Path = Path(".aios")
    secret: Callable[[str], str | None] = field(default=lambda name: None, repr=False)
    timeout_s: float | None = None

    def path_in_workspace(self, relative: str) -> Path:
        """Resolve a workspace-relative path, refusing anything that escapes the workspace."""
        root = self.workspace.resolve()
        target = (root / relative).resolve()
        if target != root and root not in target.parents:
            raise ConnectorFailed(f"path `{relative}` is outside the workspace", transient=False)
        return target


ConnectorFn = Callable[[ConnectorCall], Mapping[str, Any]]


class ConnectorFailed(RunError):
    """A connector call failed; ``transient`` says whether retrying with the same key may help."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


#: exception classes of HTTP clients a connector may use, transient when raised (looked up only if the
#: client is already imported: this module never imports one)
_CLIENT_TRANSIENT = (("httpx", ("TimeoutException", "NetworkError")), ("requests", ("ConnectionError", "Timeout")))


def is_transient(err: BaseException) -> bool:
    """Whether retrying the call with the same key may help. A `ConnectorFailed` says so itself;
    timeouts and connection errors (the standard library's, httpx's, requests') are transient; any
    other exception a connector raises is permanent: a bug or a bad input does not heal by itself."""
    if isinstance(err, ConnectorFailed):
        return err.transient
    if isinstance(err, (TimeoutError, ConnectionError)):
        return True
    for module_name, names in _CLIENT_TRANSIENT:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        classes = tuple(c for c in (getattr(module, n, None) for n in names) if isinstance(c, type))
        if classes and isinstance(err, classes):
            return True
    return False


class ConnectorRegistry:
    def __init__(self, workspace: Path | None = None) -> None:
        self.workspace = workspace
        self._fns: dict[str, ConnectorFn] = {}
        self._resolved: dict[str, ConnectorFn] = {}

    def register(self, name: str, fn: ConnectorFn) -> None:
        self._fns[name] = fn
        self._resolved.pop(name, None)

    def resolve(self, plan: Plan, name: str) -> ConnectorFn:
        fn = self._resolved.get(name) or self._fns.get(name)
        if fn is not None:
            return fn
        from aios.connectors.registry import implementation

        fn = implementation(plan, name, self.workspace or Path("."))
        self._resolved[name] = fn
        return fn
