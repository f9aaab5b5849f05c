from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aios.runtime.connectors import ConnectorCall, Provenance
from tests.connectors.servers import HttpTarget, SmtpTarget, http_target, smtp_target

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MakeCall = Callable[..., ConnectorCall]


@pytest.fixture
def http() -> Iterator[HttpTarget]:
    yield from http_target()


@pytest.fixture
def smtp() -> Iterator[SmtpTarget]:
    yield from smtp_target()


@pytest.fixture
def make_call(tmp_path: Path) -> MakeCall:
    """A `ConnectorCall` as the interpreter builds it, in a workspace under tmp_path."""
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)

    def make(connector: str, input: dict[str, Any], *, key: str = "key-1", settings: dict[str, Any] | None = None,
             secrets: dict[str, str] | None = None, storage: Path | None = None, step: str = "step",
             run: str = "run_test", timeout_s: float | None = None) -> ConnectorCall:
        values = dict(secrets or {})
        return ConnectorCall(connector, input, key, Provenance(run, step, "f" * 64, "pb"), dict(settings or {}), ws,
                             storage or ws / ".aios", values.get, timeout_s)

    return make
