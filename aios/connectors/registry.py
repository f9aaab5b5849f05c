"""Which code implements a connector: the built-ins shipped in this package (contracts in
``builtin.yaml``), or the workspace's own module named by the contract's ``module:``.

Built-in modules are imported on first use, so compiling a workspace imports none of them (httpx,
smtplib stay out of ``aios validate``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aios.connectors.api import ConnectorImpl, as_impl
from aios.connectors.loader import ConnectorLoadError, load_attribute, parse_module_ref
from aios.plan.plan import Plan
from aios.runtime.connectors import ConnectorCall, ConnectorFailed

__all__ = ["BUILTINS", "builtin", "implementation", "preview_of", "reconcile_of"]

#: connector name -> "module:attribute" of its implementation in this package
BUILTINS: dict[str, str] = {
    "http.request": "aios.connectors.http_request:request",
    "email.send": "aios.connectors.mail:send",
    "files.write": "aios.connectors.files:write",
    "files.delete": "aios.connectors.files:delete",
    "cms.publish": "aios.connectors.cms:publish",
    "cms.unpublish": "aios.connectors.cms:unpublish",
    "sqlite.upsert": "aios.connectors.sqlite_table:upsert",
    "sqlite.restore": "aios.connectors.sqlite_table:restore",
}

Impl = Callable[[ConnectorCall], Mapping[str, Any]]


def builtin(name: str) -> ConnectorImpl[Any, Any] | None:
    target = BUILTINS.get(name)
    if target is None:
        return None
    module, attr = target.split(":")
    impl = getattr(importlib.import_module(module), attr)
    assert isinstance(impl, ConnectorImpl)
    return impl


def implementation(plan: Plan, name: str, workspace: Path) -> Impl:
    """The callable the interpreter calls for connector ``name``; ``ConnectorFailed`` (permanent)
    when there is none."""
    impl = builtin(name)
    if impl is not None:
        return impl
    contract = plan.connector_map.get(name)
    if contract is None:
        raise ConnectorFailed(f"no connector `{name}` in the plan", transient=False)
    if not contract.module:
        raise ConnectorFailed(f"connector `{name}` has no implementation (its contract names no `module:`)",
                              transient=False)
    try:
        return as_impl(load_attribute(workspace, parse_module_ref(contract.module, name)))
    except ConnectorLoadError as err:
        raise ConnectorFailed(f"connector `{name}`: {err}", transient=False) from err
    except TypeError as err:
        raise ConnectorFailed(f"connector `{name}`: {err}", transient=False) from err


def preview_of(impl: Impl) -> Callable[[ConnectorCall], Any] | None:
    """The implementation's preview, if it has one."""
    return impl.run_preview if isinstance(impl, ConnectorImpl) and impl.can_preview else None


def reconcile_of(impl: Impl) -> Callable[[ConnectorCall], Any] | None:
    """The implementation's reconciliation, if it has one."""
    return impl.run_reconcile if isinstance(impl, ConnectorImpl) and impl.can_reconcile else None
