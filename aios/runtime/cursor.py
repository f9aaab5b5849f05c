"""Opaque keyset cursors: the sort key of a page's last row, for the query of the next page.

A listing that pages by keyset (``WHERE (key...) > (?...) ORDER BY key... LIMIT n``) reads about
``n`` index entries whatever the table holds, where OFFSET reads and skips every earlier row. The
cursor is the key as URL-safe base64 of a JSON array, so the CLI and the dashboard hand it back
unchanged and never depend on its contents.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from aios.errors import UsageError

__all__ = ["encode_cursor", "decode_cursor", "CursorError"]


class CursorError(UsageError):
    """A cursor that this listing did not hand out."""


def encode_cursor(key: Sequence[str | int | float | None]) -> str:
    text = json.dumps(list(key), separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[str | int | float | None]:
    """The key in ``cursor``; a `CursorError` when it is not a key of ``width`` scalar values."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as err:
        raise CursorError(f"not a cursor from this listing: `{cursor}`") from err
    if (not isinstance(data, list) or len(data) != width
            or not all(v is None or isinstance(v, str | int | float) for v in data)):
        raise CursorError(f"not a cursor from this listing: `{cursor}`")
    return data
