"""Notifications: declared under ``notify:`` in aios.yaml, enqueued in the transaction of the event that
causes them (`outbox`, `hooks`), delivered once by a sender (`sender`) through email or a signed
webhook (`channels`); approval notifications carry a signed, single-use link (`links`).

See docs/notifications.md.
"""

from __future__ import annotations

__all__: list[str] = []
