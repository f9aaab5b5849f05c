from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# caches aios keeps between processes (the rules parser) go to a folder of this test session, not ~/.cache
if "AIOS_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["AIOS_CACHE_DIR"] = tempfile.mkdtemp(prefix="aios-test-cache-")


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip("../shared/data (reference data) is absent in this clone; CI always has it")
    return data


def aios_cmd() -> list[str]:
    """Run the installed package's CLI in a subprocess (a real process, as a user would)."""
    return [sys.executable, "-m", "aios"]
