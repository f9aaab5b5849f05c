"""Golden cases: one text file per case holds the workspace files and the diagnostics it must give.

    # what the case is about
    [file playbooks/p.yaml]
    kind: playbook
    ...
    [expect]
    playbooks/p.yaml:7:12: error unknown-step

Files not given get defaults (a minimal aios.yaml). Set AIOS_UPDATE_GOLDEN=1 to rewrite the
[expect] sections from what the compiler now reports (then review the diff).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_HEADER = re.compile(r"^\[(file (?P<path>\S+)|expect)\]\s*$")
DEFAULT_WORKSPACE = "name: golden\n"


@dataclass
class Case:
    path: Path
    preamble: str
    files: dict[str, str]
    expect: list[str]


def parse_case(path: Path) -> Case:
    preamble: list[str] = []
    files: dict[str, list[str]] = {}
    expect: list[str] = []
    current: list[str] | None = preamble
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        m = _HEADER.match(line)
        if m:
            current = files.setdefault(m.group("path"), []) if m.group("path") else expect
            continue
        assert current is not None
        current.append(line)
    return Case(path, "".join(preamble), {k: "".join(v) for k, v in files.items()},
                [e.strip() for e in expect if e.strip() and not e.startswith("#")])


def write_case(case: Case, actual: list[str]) -> None:
    out = [case.preamble]
    for name, text in case.files.items():
        out.append(f"[file {name}]\n{text}")
        if not text.endswith("\n"):
            out.append("\n")
    out.append("[expect]\n")
    out.extend(line + "\n" for line in actual)
    case.path.write_text("".join(out), encoding="utf-8")


def materialize(case: Case, root: Path) -> None:
    files = dict(case.files)
    files.setdefault("aios.yaml", DEFAULT_WORKSPACE)
    for rel, text in files.items():
        if text.strip() == "<ABSENT>":
            continue
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8").replace(b"<TAB>", b"\t").replace(b"<NUL>", b"\x00")
                           .replace(b"<BADUTF8>", b"\xff\xfe"))
