"""The connector plane: contracts of the built-in connectors (``builtin.yaml``), their
implementations (one module per family), and the Python API for a workspace's own connectors.

Writing a connector (docs/connectors.md)::

    from aios.connectors import Context, Preview, Reconciliation, connector

    @connector
    def order(input: OrderInput, ctx: Context) -> OrderOutput: ...

Importing this package loads only the API (pydantic); built-in implementations (httpx, smtplib)
are imported when a run first calls them.
"""

from __future__ import annotations

from aios.connectors.api import (
    ConnectorImpl,
    Context,
    Outcome,
    Preview,
    Reconciliation,
    as_impl,
    connector,
)
from aios.runtime.connectors import ConnectorFailed, Provenance

__all__ = ["connector", "ConnectorImpl", "Context", "Preview", "Reconciliation", "Outcome", "ConnectorFailed",
           "Provenance", "as_impl"]
