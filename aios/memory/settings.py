"""Where a workspace's memory lives and how it behaves, from the compiled plan or, for the CLI's
read-only commands, straight from ``aios.yaml`` (no compile needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aios.plan.plan import Plan

__all__ = ["MemorySettings"]


@dataclass(frozen=True, slots=True)
class MemorySettings:
    root: Path
    storage: Path
    knowledge_dir: Path
    half_life_days: float | None = 90.0
    cold_after_days: float = 30.0

    @property
    def index_dir(self) -> Path:
        return self.storage / "index"

    @property
    def state_db(self) -> Path:
        return self.storage / "state.db"

    @property
    def archive_dir(self) -> Path:
        return self.storage / "archive"

    @classmethod
    def from_plan(cls, plan: Plan, root: Path, storage: Path | None = None) -> MemorySettings:
        s = plan.settings
        root = Path(root).resolve()
        return cls(root, storage or root / s.storage, root / s.knowledge_dir, s.half_life_days, s.cold_after_days)

    @classmethod
    def from_workspace(cls, root: Path) -> MemorySettings:
        """Read ``aios.yaml`` leniently (defaults for anything missing or malformed)."""
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        root = Path(root).resolve()
        try:
            data: Any = YAML(typ="safe").load((root / "aios.yaml").read_text(encoding="utf-8"))
        except (OSError, YAMLError, UnicodeDecodeError):
            data = None
        data = data if isinstance(data, dict) else {}
        memory = data.get("memory") if isinstance(data.get("memory"), dict) else {}
        storage = data.get("storage")
        storage = storage if isinstance(storage, str) and storage else ".aios"
        knowledge = memory.get("knowledge_dir")
        knowledge = knowledge if isinstance(knowledge, str) and knowledge else "knowledge"
        return cls(root, root / storage, root / knowledge, _positive(memory.get("half_life_days"), 90.0),
                   _positive(memory.get("cold_after_days"), 30.0) or 30.0)


def _positive(value: Any, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default
