"""The process the crash test kills: runs or resumes a side-effecting playbook on a real store.

usage: crash_child.py WORKDIR start EVENT_ID | WORKDIR resume RUN_ID
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ledger import apply, undo  # noqa: E402
from planbuild import connector, make_plan, record, step, tpl, tv  # noqa: E402

from aios.plan.plan import Agent, MapConfig, RecordWrite, SideEffect, StepKind  # noqa: E402
from aios.runtime.connectors import ConnectorRegistry  # noqa: E402
from aios.runtime.interpreter import Runtime  # noqa: E402

PAIRS = 10
ITEMS = [1, 2, 3]


def build_plan():  # type: ignore[no-untyped-def]
    steps = [step("intake", StepKind.AGENT, agent="intake", input=tpl("{{ event.payload }}"),
                  output_schema="Job", writes=RecordWrite("Job"))]
    prev = "intake"
    for i in range(PAIRS):
        steps.append(step(f"t{i}", StepKind.TRANSFORM, needs=(prev,),
                          transform=tv({"amount": "{{ " + str(i + 1) + " }}", "note": "{{ records.Job.title }}"})))
        steps.append(step(f"c{i}", StepKind.CONNECTOR, needs=(f"t{i}",), connector="ledger.apply",
                          input=tv({"amount": "{{ steps.t" + str(i) + ".output.amount }}"}),
                          idempotency_key=tpl("{{ run.id }}-c" + str(i)), compensate="ledger.undo"))
        prev = f"c{i}"
    steps.append(step("fanout", StepKind.MAP, needs=(prev,), map=MapConfig(
        over=tpl("event.payload['items']", True), item="it", kind=StepKind.CONNECTOR, connector="ledger.apply",
        input=tv({"amount": "{{ it }}"}), idempotency_key=tpl("{{ run.id }}-item"))))
    return make_plan(
        steps, name="crash", trigger="crash.test",
        schemas=[record("Job", title="str", items="list[int]")],
        agents=[Agent("intake", "Open a job.", "default", "p.j2", output_schema="Job")],
        prompts=[("p.j2", "{{ input }}")],
        connectors=[connector("ledger.apply", SideEffect.REVERSIBLE, compensation="ledger.undo",
                              inputs={"amount": "int"}, outputs={"ref": "str"}),
                    connector("ledger.undo", SideEffect.REVERSIBLE, inputs={"ref": "str"}, outputs={"undone": "bool"})])


def main() -> None:
    workdir, mode, arg = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    registry = ConnectorRegistry(workdir)
    registry.register("ledger.apply", apply)
    registry.register("ledger.undo", undo)
    with Runtime(build_plan(), workdir, storage=workdir / ".aios", connectors=registry) as rt:
        if mode == "start":
            out = rt.start("crash", {"type": "crash.test", "id": arg,
                                     "payload": {"title": f"job {arg}", "items": ITEMS}})
        else:
            out = rt.resume(arg)
    print(out.run_id, out.status.value)


if __name__ == "__main__":
    main()
