"""Minimal implementations of the file-based built-in connectors (contracts in
``aios/connectors/builtin.yaml``): ``files.write``, ``files.delete``, ``cms.publish``,
``cms.unpublish``. They are idempotent by construction: a write is an atomic replace of the same
content, so a repeated call with the same key leaves the same file and returns the same output.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aios.runtime.connectors import ConnectorCall, ConnectorFailed, ConnectorFn

__all__ = ["IMPLEMENTATIONS", "atomic_write"]


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _folder(call: ConnectorCall, key: str, default: str) -> Path:
    return call.path_in_workspace(str(call.settings.get(key, default)))


def _inside(call: ConnectorCall, folder: Path, relative: str) -> Path:
    target = (folder / relative).resolve()
    if folder.resolve() not in target.parents:
        raise ConnectorFailed(f"path `{relative}` is outside {folder}", transient=False)
    return target


def files_write(call: ConnectorCall) -> Mapping[str, Any]:
    outbox = _folder(call, "outbox", "outbox")
    target = _inside(call, outbox, str(call.input["path"]))
    data = str(call.input["content"]).encode()
    atomic_write(target, data)
    return {"path": target.relative_to(call.workspace.resolve()).as_posix(), "bytes": len(data)}


def files_delete(call: ConnectorCall) -> Mapping[str, Any]:
    target = call.path_in_workspace(str(call.input["path"]))
    existed = target.exists()
    if existed:
        target.unlink()
    return {"deleted": existed}


def _front_matter(call: ConnectorCall) -> str:
    inp = call.input
    lines = ["---", f"title: {_yaml_str(str(inp['title']))}", f"slug: {inp['slug']}"]
    tags = inp.get("tags") or []
    if tags:
        lines.append("tags: [" + ", ".join(_yaml_str(str(t)) for t in tags) + "]")
    lines += [f"run: {call.provenance.run_id}", f"idempotency_key: {_yaml_str(call.idempotency_key)}", "---", ""]
    return "\n".join(lines)


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _slug_path(call: ConnectorCall, site: Path) -> Path:
    slug = str(call.input["slug"]).strip().strip("/")
    if not slug or "/" in slug or slug.startswith("."):
        raise ConnectorFailed(f"slug `{slug}` is not a page name", transient=False)
    return _inside(call, site, f"{slug}.md")


def cms_publish(call: ConnectorCall) -> Mapping[str, Any]:
    site = _folder(call, "site_dir", "site")
    target = _slug_path(call, site)
    atomic_write(target, (_front_matter(call) + str(call.input["body"]).rstrip() + "\n").encode())
    base = str(call.settings.get("base_url", "https://example.invalid")).rstrip("/")
    return {"url": f"{base}/{call.input['slug']}", "path": target.relative_to(call.workspace.resolve()).as_posix()}


def cms_unpublish(call: ConnectorCall) -> Mapping[str, Any]:
    site = _folder(call, "site_dir", "site")
    target = _slug_path(call, site)
    existed = target.exists()
    if existed:
        target.unlink()
    return {"removed": existed}


IMPLEMENTATIONS: dict[str, ConnectorFn] = {
    "files.write": files_write,
    "files.delete": files_delete,
    "cms.publish": cms_publish,
    "cms.unpublish": cms_unpublish,
}
