from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connectors.servers import HttpTarget, SmtpTarget, http_target, smtp_target

from .workspace import HOOK_ENV, HOOK_SECRET, INTAKE_ENV, INTAKE_SECRET

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def http() -> Iterator[HttpTarget]:
    yield from http_target()


@pytest.fixture
def smtp() -> Iterator[SmtpTarget]:
    yield from smtp_target()


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, HOOK_SECRET)
    monkeypatch.setenv(INTAKE_ENV, INTAKE_SECRET)


def all_bytes(root: Path) -> bytes:
    """Every byte under ``root`` (state store, WAL, journal, outbox files), for canary checks."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())
