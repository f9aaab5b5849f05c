"""Loading a workspace's own connector modules (``connectors/<file>.py``) by contract ``module:``.

A module is loaded as a submodule of a per-workspace package whose path is the workspace's
``connectors/`` folder, so modules can import their neighbours (``from . import common``). Loaded
modules are cached by file content: an edited file is loaded afresh (``aios dev`` reloads).
`probe` loads a module for the compiler's check under a throwaway package and takes every module it
added back out of ``sys.modules``, so validating never leaves workspace code behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aios.errors import AiosError

__all__ = ["ModuleRef", "ConnectorLoadError", "parse_module_ref", "load_attribute", "probe"]

_PACKAGE = "aios_workspace_connectors"
_counter = itertools.count()
_cache: dict[tuple[str, str], types.ModuleType] = {}


@dataclass(frozen=True, slots=True)
class ModuleRef:
    """``module: social:schedule`` → file ``connectors/social.py``, attribute ``schedule``."""

    file: str  # workspace-relative, e.g. "connectors/social.py"
    module: str  # dotted, e.g. "social"
    attribute: str


class ConnectorLoadError(AiosError):
    """A connector module is missing, fails to import, or lacks the attribute its contract names.

    ``location`` is ``file:line`` of the failing code when known (the import error's own frame)."""

    def __init__(self, message: str, *, kind: str, location: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind  # "missing-file" | "import" | "attribute"
        self.location = location


def parse_module_ref(module: str, connector_name: str) -> ModuleRef:
    file_part, _, attr = module.partition(":")
    attr = attr.strip() or connector_name.rsplit(".", 1)[-1]
    dotted = file_part.strip().removesuffix(".py").replace("/", ".")
    return ModuleRef(f"connectors/{dotted.replace('.', '/')}.py", dotted, attr)


def _package(name: str, folder: Path) -> types.ModuleType:
    pkg = sys.modules.get(name)
    if pkg is None:
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(folder)]
        pkg.__package__ = name
        sys.modules[name] = pkg
    return pkg


def _ensure_parents(package: str, folder: Path, dotted: str) -> None:
    """Sub-packages for ``a.b`` in ``connectors/a/b.py`` (plain folders need no ``__init__.py``)."""
    parts = dotted.split(".")[:-1]
    for i in range(len(parts)):
        name = ".".join([package, *parts[: i + 1]])
        _package(name, folder.joinpath(*parts[: i + 1]))


def _where(err: BaseException, root: Path) -> str | None:
    """``connectors/x.py:LINE`` of the innermost frame inside the workspace (or the syntax error)."""
    root = root.resolve()
    if isinstance(err, SyntaxError) and err.filename:
        try:
            rel = Path(err.filename).resolve().relative_to(root).as_posix()
        except ValueError:
            rel = err.filename
        return f"{rel}:{err.lineno or 1}"
    found = None
    for frame in traceback.extract_tb(err.__traceback__):
        try:
            rel = Path(frame.filename).resolve().relative_to(root).as_posix()
        except ValueError:
            continue
        found = f"{rel}:{frame.lineno}"
    return found


def _exec(name: str, path: Path, root: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise ConnectorLoadError(f"cannot load {path}", kind="import")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException as err:
        sys.modules.pop(name, None)
        if isinstance(err, KeyboardInterrupt):
            raise
        where = _where(err, root)
        detail = f"{type(err).__name__}: {err}"
        if isinstance(err, SyntaxError):
            detail = f"SyntaxError: {err.msg}"
        raise ConnectorLoadError(f"{where + ': ' if where else ''}{detail}", kind="import", location=where) from err
    return mod


def _attribute(mod: types.ModuleType, ref: ModuleRef) -> Any:
    if not hasattr(mod, ref.attribute):
        public = sorted(n for n in vars(mod) if not n.startswith("_") and callable(getattr(mod, n)))
        raise ConnectorLoadError(f"{ref.file} has no `{ref.attribute}`"
                                 + (f" (it defines: {', '.join(public[:8])})" if public else ""), kind="attribute")
    return getattr(mod, ref.attribute)


def load_attribute(root: Path, ref: ModuleRef) -> Any:
    """The object a contract's ``module:`` names, for the runtime (cached by file content)."""
    root = root.resolve()
    path = root / ref.file
    try:
        source = path.read_bytes()
    except OSError as err:
        raise ConnectorLoadError(f"{ref.file} does not exist", kind="missing-file") from err
    digest = hashlib.sha256(source).hexdigest()
    key = (str(path), digest)
    mod = _cache.get(key)
    if mod is None:
        package = f"{_PACKAGE}_{hashlib.sha256(str(root).encode()).hexdigest()[:10]}"
        _package(package, root / "connectors")
        _ensure_parents(package, root / "connectors", ref.module)
        mod = _exec(f"{package}.{ref.module}", path, root)
        _cache[key] = mod
    return _attribute(mod, ref)


def probe(root: Path, ref: ModuleRef) -> Any:
    """Import the module once for a check and return the attribute; ``sys.modules`` is left as it was
    for every workspace module (third-party imports the module made stay, as after any import)."""
    root = root.resolve()
    path = root / ref.file
    if not path.is_file():
        raise ConnectorLoadError(f"{ref.file} does not exist", kind="missing-file")
    package = f"_aios_check_{next(_counter)}"
    try:
        _package(package, root / "connectors")
        _ensure_parents(package, root / "connectors", ref.module)
        mod = _exec(f"{package}.{ref.module}", path, root)
        return _attribute(mod, ref)
    finally:
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]
