"""IANA time zones by name: looked up safely (any string, any length), listed for did-you-mean."""

from __future__ import annotations

import datetime as dt
import functools

__all__ = ["load_zone", "zone_names", "MAX_ZONE_NAME"]

MAX_ZONE_NAME = 64  # the longest IANA name is under 40 characters; longer strings are not looked up


@functools.lru_cache(maxsize=64)
def load_zone(name: str) -> dt.tzinfo | None:
    """The zone called ``name`` (``UTC`` is ``datetime.UTC``), or None for anything that is not one."""
    if name == "UTC":
        return dt.UTC
    if not name or len(name) > MAX_ZONE_NAME:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed, or too long for the file system
        return None


@functools.cache
def zone_names() -> frozenset[str]:
    """Every IANA zone name available (read from the system or the tzdata package; only on errors)."""
    from zoneinfo import available_timezones

    return frozenset(available_timezones())
