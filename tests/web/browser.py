"""Browser tests' requirements: the `playwright` package and Debian's Chromium (Playwright cannot
download its own browser here). Without them the tests skip with the reason, except under
``CI=true``, where a missing browser is a failure: CI must run them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["CHROMIUM", "require_browser", "screenshot_dir"]

CHROMIUM = Path(os.environ.get("AIOS_CHROMIUM", "/usr/bin/chromium"))


def require_browser() -> None:
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed (pip install -e '.[test]')"
    if reason is None and not CHROMIUM.is_file():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set AIOS_CHROMIUM)"
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run: {reason}; under CI=true they must run, not skip")
    pytest.skip(reason)


def screenshot_dir() -> Path:
    """Where the browser tests save screenshots of the main pages (git-ignored)."""
    path = Path(os.environ.get("AIOS_SCREENSHOTS", Path(__file__).parent / "screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path
