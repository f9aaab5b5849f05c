"""Where a workspace's memory lives and how it behaves, from the compiled plan or, for the CLI's
read-only commands, straight from ``aios.yaml`` (no compile needed)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios import masking

if TYPE_CHECKING:
    from aios.plan.plan import ModelRoute, Plan

__all__ = ["MemorySettings", "EmbeddingSettings"]


@dataclass(frozen=True, slots=True)
class EmbeddingSettings:
    """The model route of ``memory.embedding`` (vector ranking fused with keyword ranking).

    ``api_key_env`` names the environment variable of the route's secret; the key itself is read at
    call time and never kept. After a failed call, the route is left alone for ``retry_after_s``
    (searches rank by keywords only, new documents wait for their vectors)."""

    route: ModelRoute
    api_key_env: str | None = None
    retry_after_s: float = 30.0

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


@dataclass(frozen=True, slots=True)
class MemorySettings:
    root: Path
    storage: Path
    knowledge_dir: Path
    half_life_days: float | None = 90.0
    cold_after_days: float = 30.0
    embedding: EmbeddingSettings | None = None

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
        masking.watch(masking.plan_secrets(plan))  # the index writer masks them
        embedding = None
        route = plan.route_map.get(s.embedding_route) if s.embedding_route else None
        if route is not None:
            secret = plan.secret_map.get(route.api_key_secret) if route.api_key_secret else None
            embedding = EmbeddingSettings(route, secret.env if secret is not None else None)
        return cls(root, storage or root / s.storage, root / s.knowledge_dir, s.half_life_days, s.cold_after_days,
                   embedding)

    @classmethod
    def from_workspace(cls, root: Path) -> MemorySettings:
        """Read ``aios.yaml`` leniently (defaults for anything missing or malformed)."""
        from aios.load.yaml_limits import load_plain

        root = Path(root).resolve()
        try:
            data: Any = load_plain((root / "aios.yaml").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            data = None
        data = data if isinstance(data, dict) else {}
        masking.watch(masking.declared_secrets(data))  # the index writer and the CLI mask them
        memory = data.get("memory") if isinstance(data.get("memory"), dict) else {}
        storage = data.get("storage")
        storage = storage if isinstance(storage, str) and storage else ".aios"
        knowledge = memory.get("knowledge_dir")
        knowledge = knowledge if isinstance(knowledge, str) and knowledge else "knowledge"
        return cls(root, root / storage, root / knowledge, _positive(memory.get("half_life_days"), 90.0),
                   _positive(memory.get("cold_after_days"), 30.0) or 30.0, _embedding_from_yaml(data, memory))


def _embedding_from_yaml(data: dict[str, Any], memory: dict[str, Any]) -> EmbeddingSettings | None:
    """The embedding route as ``aios.yaml`` declares it; None when absent or unusable (``aios validate``
    reports what is wrong with it)."""
    from aios.plan.plan import ModelRoute

    name = memory.get("embedding")
    models = data.get("models")
    if not isinstance(name, str) or not isinstance(models, dict):
        return None
    spec = models.get(name)
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), str):
        return None
    api_base = spec.get("api_base") if isinstance(spec.get("api_base"), str) else None
    secret_name = spec.get("api_key") if isinstance(spec.get("api_key"), str) else None
    route = ModelRoute(name, spec["model"], api_base=api_base, api_key_secret=secret_name,
                       timeout_s=_positive(spec.get("timeout_s"), 60.0),
                       max_retries=spec["max_retries"] if type(spec.get("max_retries")) is int
                       and 0 <= spec["max_retries"] <= 10 else 2,
                       input_cost_per_1k=_positive(spec.get("input_cost_per_1k"), 0.0) or None)
    secrets = data.get("secrets")
    secret = secrets.get(secret_name) if secret_name and isinstance(secrets, dict) else None
    env = secret.get("env") if isinstance(secret, dict) and isinstance(secret.get("env"), str) else None
    return EmbeddingSettings(route, env)


def _positive(value: Any, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default
