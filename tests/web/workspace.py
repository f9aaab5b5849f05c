"""The example workspace (the repository root) copied to a temporary folder, for dashboard tests."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("aios.yaml", "playbooks", "prompts", "policies", "connectors", "events", "knowledge", "schema")
#: a declared secret of the example workspace (aios.yaml `supplier_token`), set to a canary value
CANARY_ENV = "AIOS_SUPPLIER_TOKEN"
CANARY = "canary-Zq8vW3xPl0Rt7s-secret"


def example_copy(dst: Path) -> Path:
    dst.mkdir(parents=True)
    for part in PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=shutil.ignore_patterns("__pycache__", ".aios"))
        elif src.is_file():
            shutil.copy2(src, dst / part)
    return dst


def lead(lead_id: str, *, message: str = "We need articles about heat pumps.", budget: int = 8000) -> dict[str, object]:
    return {"type": "lead.received", "id": lead_id, "source": "test",
            "payload": {"name": "Ada Lindqvist", "email": "ada@fjordtech.example", "company": "Fjord Tech",
                        "message": message, "budget_eur": budget, "topics": ["heat pumps", "retrofit"]}}
