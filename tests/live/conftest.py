from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .workspace import write_workspace

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws")


@pytest.fixture
def clean_env() -> Iterator[None]:
    """The shop secret set and the other one unset, as the server subprocesses inherit them."""
    from .workspace import SHOP_ENV, SHOP_SECRET, UNSET_ENV

    saved = {k: os.environ.get(k) for k in (SHOP_ENV, UNSET_ENV)}
    os.environ[SHOP_ENV] = SHOP_SECRET
    os.environ.pop(UNSET_ENV, None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
