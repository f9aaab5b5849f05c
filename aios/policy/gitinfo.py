"""Git facts a decision records, and policy files at a revision (for `aios policy diff`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from aios.errors import UsageError

__all__ = ["head_commit", "rules_at_revision"]


def _git_dir(root: Path) -> Path | None:
    for folder in (root, *root.resolve().parents):
        dot = folder / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():  # a worktree: "gitdir: <path>"
            text = dot.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text.split(":", 1)[1].strip())
                return target if target.is_absolute() else (folder / target).resolve()
    return None


def head_commit(root: Path) -> str | None:
    """The commit checked out at ``root`` (read from .git without running git), or None."""
    git = _git_dir(root)
    if git is None:
        return None
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head or None
    ref = head.split(":", 1)[1].strip()
    common = git
    common_file = git / "commondir"
    if common_file.is_file():
        common = (git / common_file.read_text(encoding="utf-8").strip()).resolve()
    for base in (git, common):
        try:
            return (base / ref).read_text(encoding="utf-8").strip() or None
        except OSError:
            pass
    try:
        for line in (common / "packed-refs").read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref:
                return parts[0]
    except OSError:
        pass
    return None


def _git(root: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UsageError("git is not installed") from None
    if proc.returncode != 0:
        raise UsageError(f"git {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
    return proc.stdout


def rules_at_revision(root: Path, rev: str, folder: str = "policies") -> list[tuple[str, str]]:
    """(workspace-relative path, text) of every ``folder/*.rules`` at ``rev`` (via `git show REV:path`).

    A revision without the folder has no rules files (an empty list)."""
    _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    listing = _git(root, "ls-tree", "-r", "--name-only", rev, "--", folder)
    out = []
    for path in sorted(listing.splitlines()):
        if path.endswith(".rules"):
            out.append((path, _git(root, "show", f"{rev}:./{path}")))
    return out
