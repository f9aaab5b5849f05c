"""What the live server checks about a plan beyond `aios validate`: that every webhook source it
listens on can verify signatures. Reported as diagnostics (warnings: the plan still runs, but
deliveries to such a source are refused until it is fixed)."""

from __future__ import annotations

import os

from aios.diagnostics import Diagnostic, DiagnosticSink
from aios.live.routing import WEBHOOK_SECRET_PREFIX, webhook_sources
from aios.plan.plan import Plan

__all__ = ["live_diagnostics", "environment_notes"]

# `webhook-secret-missing` is registered (and reported by `aios validate`) by the workspace compiler.


def live_diagnostics(plan: Plan) -> tuple[Diagnostic, ...]:
    sink = DiagnosticSink()
    for source in webhook_sources(plan).values():
        if source.secret is not None:
            continue
        for name in source.playbooks:
            pb = plan.playbook_map[name]
            sink.report("webhook-secret-missing",
                        f"playbook `{name}` is triggered by webhook `{source.name}`, which has no signing secret; "
                        "its deliveries are refused (503)", pb.span,
                        hint=f"declare `{WEBHOOK_SECRET_PREFIX}{source.name}: {{env: SOME_ENV_VAR}}` under `secrets:` "
                             "in aios.yaml and set the variable")
    return sink.sorted()


def environment_notes(plan: Plan) -> list[str]:
    """Webhook sources whose secret is declared but whose environment variable is not set."""
    return [f"webhook source `{s.name}`: environment variable {s.env} (secret `{s.secret}`) is not set; "
            "deliveries are refused (503) until it is"
            for s in sorted(webhook_sources(plan).values(), key=lambda s: s.name)
            if s.env is not None and not os.environ.get(s.env)]
