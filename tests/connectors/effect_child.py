"""A process that runs (or resumes) a playbook of a real workspace and can die on purpose.

usage: effect_child.py WORKDIR start EVENT_ID | WORKDIR resume RUN_ID

``AIOS_TEST_DIE_AFTER=<connector>`` kills the process with SIGKILL right after that connector's
call returned (the effect happened, its result is not logged); ``AIOS_TEST_DIE_BEFORE=<connector>``
right before the call (the intent is logged, the effect never happened). The crash test instead
kills it from outside at random moments (``AIOS_COMMIT_PROBE``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aios.compiler import compile_workspace
from aios.plan.plan import Plan
from aios.runtime.connectors import ConnectorCall, ConnectorFn, ConnectorRegistry
from aios.runtime.interpreter import Runtime


class Dying(ConnectorRegistry):
    def __init__(self, workspace: Path, before: str | None, after: str | None) -> None:
        super().__init__(workspace)
        self.before, self.after = before, after

    def resolve(self, plan: Plan, name: str) -> ConnectorFn:
        real = super().resolve(plan, name)
        if name not in (self.before, self.after):
            return real

        def dying(call: ConnectorCall) -> Mapping[str, Any]:
            if name == self.before:
                os.kill(os.getpid(), signal.SIGKILL)
            out = real(call)
            os.kill(os.getpid(), signal.SIGKILL)
            return out

        return dying


def main() -> None:
    workdir, mode, arg = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    result = compile_workspace(workdir)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    registry = Dying(workdir, os.environ.get("AIOS_TEST_DIE_BEFORE"), os.environ.get("AIOS_TEST_DIE_AFTER"))
    with Runtime(result.plan, workdir, connectors=registry) as rt:
        if mode == "start":
            payload = json.loads(os.environ.get("AIOS_TEST_PAYLOAD", "{}"))
            out = rt.start("p", {"type": "go", "id": arg, "payload": payload})
        else:
            out = rt.resume(arg)
    print(out.run_id, out.status.value)


if __name__ == "__main__":
    main()
