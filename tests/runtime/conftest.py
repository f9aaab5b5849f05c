from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios.runtime.store import Store

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "state")
    yield s
    s.close()
