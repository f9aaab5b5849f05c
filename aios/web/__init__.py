"""The dashboard: a browser face over the same library operations as the CLI (see docs/dashboard.md).

Imported only by `aios serve` / `aios dev` (and `aios token`); the runtime never imports it. Each page
builds one context dict, rendered as HTML through a Jinja template and served as JSON under
``/api/`` (`aios.web.pages`). Authentication (`auth`), CSRF (`csrf`), secret masking and security
headers (`responses`) are each applied once, as ASGI middleware, in `app`.
"""

from __future__ import annotations

__all__: list[str] = []
