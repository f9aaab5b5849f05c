"""Expiry times computed mid-run never overflow: the runtime's one helper caps at the calendar's end."""

from __future__ import annotations

import pytest

from aios.durations import MAX_DURATION_SECONDS, iso_plus_seconds


def test_an_ordinary_timeout_is_added() -> None:
    assert iso_plus_seconds("2026-12-02T10:00:00.000Z", 2 * 86400) == "2026-12-04T10:00:00.000Z"


@pytest.mark.parametrize("seconds", [3_000_000 * 86400.0, 999_999_999_999_999 * 86400.0, 1e300])
def test_a_timeout_past_the_calendar_stays_at_its_end(seconds: float) -> None:
    """`timeout 3000000d` overflowed `datetime` with an OverflowError in the middle of a run."""
    assert iso_plus_seconds("2026-12-02T10:00:00.000Z", seconds) == "9999-12-31T23:59:59.999Z"


def test_the_longest_allowed_duration_fits() -> None:
    assert iso_plus_seconds("2026-12-02T10:00:00.000Z", MAX_DURATION_SECONDS).startswith("2126-")
