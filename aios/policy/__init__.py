"""The policy plane: the rule DSL compiled into a fast evaluator.

The workspace compiler calls `compile_policies` once per plan, after everything else is checked,
with the plan built so far (schemas, connectors, agents, routes) as the typing context.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from aios.diagnostics import DiagnosticSink
from aios.plan import Plan, PolicyBundle

__all__ = ["compile_policies"]


def compile_policies(plan: Plan, files: Sequence[tuple[str, str]], sink: DiagnosticSink) -> PolicyBundle:
    """Compile ``policies/*.rules`` (``files`` = (workspace-relative path, text)) against ``plan``."""
    digest = hashlib.sha256()
    sources = []
    for path, text in files:
        file_hash = hashlib.sha256(text.encode()).hexdigest()
        sources.append((path, file_hash))
        digest.update(path.encode() + b"\0" + file_hash.encode() + b"\0")
    return PolicyBundle(content_hash=digest.hexdigest(), sources=tuple(sources), compiled=None)
