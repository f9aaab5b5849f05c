"""Interventions beside approve, reject, cancel and resume: pause and resume a playbook (manual mode,
`aios playbooks pause|resume`) and re-run a run from a step (`aios runs rerun`), each the library call
the CLI makes, as the request's actor, logged with it."""

from __future__ import annotations

from urllib.parse import quote

from starlette.routing import Route

from aios.errors import RunError
from aios.live import journal, pauses
from aios.live.dispatch import release_held
from aios.web.auth import Actor
from aios.web.host import Host
from aios.web.pages import Context, PageError, Pages, Params

__all__ = ["routes", "pause", "resume", "rerun"]


def _set(host: Host, actor: Actor, name: str, params: Params, *, paused: bool) -> Context:
    store = journal.open_store(host.storage_dir)
    try:
        state, changed = pauses.set_paused(store, host.plan().playbook_map, name, paused_=paused, actor=actor.name,
                                           note=params.get("note") or None)
    except RunError as err:
        raise PageError(404, str(err)) from None
    finally:
        store.close()
    started: list[str] = []
    if not paused and changed and host.release is None:  # no server's dispatcher: start the queued runs here
        with host.runtime(actor.name) as rt:
            while True:
                done = release_held(rt)
                started.extend(r for d in done for r in d.new_runs)
                if len(done) < 100:
                    break
        for run_id in started:
            host.continue_run(run_id, actor.name)
    return {**state.to_json(), "changed": changed, "by": actor.name, "started": started}


def pause(host: Host, actor: Actor, name: str, params: Params) -> Context:
    return _set(host, actor, name, params, paused=True)


def resume(host: Host, actor: Actor, name: str, params: Params) -> Context:
    return _set(host, actor, name, params, paused=False)


def rerun(host: Host, actor: Actor, run_id: str, params: Params) -> Context:
    """A new run of the same event from ``step`` (`Runtime.rerun`), logged with the actor who asked."""
    step = (params.get("step") or "").strip()
    if not step:
        raise PageError(400, "name the step to re-run from: {\"step\": \"…\"}")
    if host.store().conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
        raise PageError(404, f"no run `{run_id}`")
    with host.runtime(actor.name) as rt:
        try:
            new_id = rt.rerun_admit(run_id, step, actor=actor.name, note=params.get("note") or None)
        except RunError as err:
            raise PageError(409, str(err)) from None
    host.continue_run(new_id, actor.name)
    return {"run": new_id, "rerun_of": run_id, "from": step, "by": actor.name}


def routes(pages: Pages) -> list[Route]:
    def to_playbook(name: str) -> str:
        return f"/playbooks/{quote(name, safe='')}"

    def to_run(run_id: str) -> str:
        return f"/runs/{run_id}"

    return [*pages.action("/playbooks/{ident}/pause", pause, back=to_playbook),
            *pages.action("/playbooks/{ident}/resume", resume, back=to_playbook),
            *pages.action("/runs/{ident}/rerun", rerun, back=to_run)]
