"""files.write/files.delete and cms.publish/cms.unpublish on the real file system."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from aios.connectors.api import Outcome
from aios.connectors.registry import builtin
from aios.runtime.connectors import ConnectorFailed
from aios.runtime.runstate import RunStatus
from tests.connectors.conftest import MakeCall
from tests.connectors.workspace import log_types, run_playbook, write_workspace

WRITE, DELETE = builtin("files.write"), builtin("files.delete")
PUBLISH, UNPUBLISH = builtin("cms.publish"), builtin("cms.unpublish")
assert WRITE and DELETE and PUBLISH and UNPUBLISH
OUTBOX = {"outbox": "outbox"}
SITE = {"site_dir": "site", "base_url": "https://northwind.example"}
PAGE = {"slug": "hello", "title": 'Hello "world"', "body": "# Hi\n\nText.", "tags": ["news", "intro"]}


def _front_matter(path: Path) -> dict[str, object]:
    text = path.read_text()
    assert text.startswith("---\n")
    head = text.split("---\n")[1]
    data = YAML(typ="safe").load(head)
    assert isinstance(data, dict)
    return data


# -- files ------------------------------------------------------------------------------------------

def test_write_is_atomic_and_confined_to_the_outbox(make_call: MakeCall) -> None:
    call = make_call("files.write", {"path": "notes/a.md", "content": "hello"}, settings=OUTBOX)
    assert WRITE(call) == {"path": "outbox/notes/a.md", "bytes": 5}
    target = call.workspace / "outbox" / "notes" / "a.md"
    assert target.read_text() == "hello"
    assert [p.name for p in target.parent.iterdir()] == ["a.md"]  # no temp file left behind
    for bad in ("../escape.txt", "/etc/passwd", "notes/../../x"):
        with pytest.raises(ConnectorFailed) as err:
            WRITE(make_call("files.write", {"path": bad, "content": "x"}, settings=OUTBOX))
        assert not err.value.transient
    assert not (call.workspace / "escape.txt").exists()


def test_duplicate_write_leaves_the_file_untouched(make_call: MakeCall) -> None:
    call = make_call("files.write", {"path": "a.txt", "content": "same"}, settings=OUTBOX)
    first = WRITE(call)
    target = call.workspace / "outbox" / "a.txt"
    before = target.stat()
    assert WRITE(call) == first
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_write_preview_changes_nothing(make_call: MakeCall) -> None:
    call = make_call("files.write", {"path": "a.txt", "content": "twelve bytes"}, settings=OUTBOX)
    preview = WRITE.run_preview(call)
    assert preview is not None and not (call.workspace / "outbox").exists()
    assert preview.summary == "would create outbox/a.txt (12 bytes)"
    assert preview.output == {"path": "outbox/a.txt", "bytes": 12}
    WRITE(call)
    again = WRITE.run_preview(call)
    assert again is not None and again.summary.startswith("would leave unchanged")


def test_write_and_delete_reconcile(make_call: MakeCall) -> None:
    call = make_call("files.write", {"path": "a.txt", "content": "x"}, settings=OUTBOX)
    first = WRITE.run_reconcile(call)
    assert first is not None and first.outcome is Outcome.NOT_HAPPENED
    out = WRITE(call)
    done = WRITE.run_reconcile(call)
    assert done is not None and done.outcome is Outcome.HAPPENED and done.output == out
    delete = make_call("files.delete", {"path": out["path"]}, settings=OUTBOX)
    assert DELETE(delete) == {"deleted": True} and DELETE(delete) == {"deleted": False}
    gone = DELETE.run_reconcile(delete)
    assert gone is not None and gone.outcome is Outcome.HAPPENED


def test_delete_refuses_files_outside_the_outbox(make_call: MakeCall) -> None:
    call = make_call("files.delete", {"path": "../aios.yaml"}, settings=OUTBOX)
    (call.workspace / "aios.yaml").write_text("name: x\n")
    with pytest.raises(ConnectorFailed):
        DELETE(call)
    assert (call.workspace / "aios.yaml").exists()


def _retry_then_succeed(tmp_path: Path, connector: str, folder: str, inp: str, settings: dict[str, object]) -> None:
    ws = write_workspace(tmp_path / "ws", f"""\
  - id: put
    connector: {connector}
    input: {inp}
    idempotency_key: "put-{{{{ event.id }}}}"
    on_failure: {{retry: {{max: 3}}}}
""", connectors={connector: settings})
    blocker = ws / folder
    blocker.write_text("a file where the folder should be")

    def sleep(_: float) -> None:  # the operator fixes it while the run waits to retry
        if blocker.is_file():
            blocker.unlink()

    out = run_playbook(ws, sleep=sleep)
    assert out.status is RunStatus.COMPLETED, out.error
    failed = [b for _, t, b in log_types(ws, out.run_id) if t == "step.attempt_failed"]
    assert len(failed) == 1 and "cannot write" in failed[0]["error"]
    assert blocker.is_dir()


def test_write_retryable_failure_then_success(tmp_path: Path) -> None:
    _retry_then_succeed(tmp_path, "files.write", "outbox", "{path: a.txt, content: hi}", OUTBOX)
    assert (tmp_path / "ws" / "outbox" / "a.txt").read_text() == "hi"


def test_write_permanent_failure_compensates_earlier_writes(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", """\
  - id: first
    connector: files.write
    input: {path: ok.txt, content: fine}
    idempotency_key: "first-{{ event.id }}"
  - id: second
    needs: [first]
    connector: files.write
    input: {path: ../../escape.txt, content: nope}
    idempotency_key: "second-{{ event.id }}"
    on_failure: {retry: {max: 3}}
""", connectors={"files.write": OUTBOX, "files.delete": OUTBOX})
    out = run_playbook(ws)
    assert out.status is RunStatus.FAILED and out.failed_step == "second" and "outside" in (out.error or "")
    entries = log_types(ws, out.run_id)
    assert not [e for e in entries if e[1] == "step.attempt_failed"]  # permanent: no retry
    assert not (ws / "outbox" / "ok.txt").exists()
    assert ("first", "compensation.completed", {"connector": "files.delete", "out": {"deleted": True}}) in entries


# -- cms --------------------------------------------------------------------------------------------

def test_publish_writes_markdown_with_front_matter_and_provenance(make_call: MakeCall) -> None:
    call = make_call("cms.publish", PAGE, key="pub-1", settings=SITE, run="run_a", step="publish")
    assert PUBLISH(call) == {"url": "https://northwind.example/hello", "path": "site/hello.md"}
    page = call.workspace / "site" / "hello.md"
    meta = _front_matter(page)
    assert meta["title"] == 'Hello "world"' and meta["slug"] == "hello" and meta["tags"] == ["news", "intro"]
    assert meta["aios"] == {"run": "run_a", "step": "publish", "plan": "f" * 16, "idempotency_key": "pub-1"}
    assert page.read_text().endswith("---\n# Hi\n\nText.\n")


def test_publish_duplicate_leaves_the_page_untouched_and_unpublish_removes_it(make_call: MakeCall) -> None:
    call = make_call("cms.publish", PAGE, settings=SITE)
    PUBLISH(call)
    page = call.workspace / "site" / "hello.md"
    before = page.stat()
    PUBLISH(call)
    assert (page.stat().st_ino, page.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    undo = make_call("cms.unpublish", {"slug": "hello"}, settings=SITE)
    assert UNPUBLISH(undo) == {"removed": True} and not page.exists()
    assert UNPUBLISH(undo) == {"removed": False}


@pytest.mark.parametrize("slug", ["", "a/b", "../x", ".hidden"])
def test_bad_slugs_are_permanent_failures(make_call: MakeCall, slug: str) -> None:
    with pytest.raises(ConnectorFailed) as err:
        PUBLISH(make_call("cms.publish", {**PAGE, "slug": slug}, settings=SITE))
    assert not err.value.transient


def test_publish_preview_and_reconcile(make_call: MakeCall) -> None:
    call = make_call("cms.publish", PAGE, settings=SITE)
    preview = PUBLISH.run_preview(call)
    assert preview is not None and not (call.workspace / "site").exists()
    assert preview.summary == 'would publish `Hello "world"` at https://northwind.example/hello'
    assert "title: \"Hello \\\"world\\\"\"" in preview.payload["page"]
    before = PUBLISH.run_reconcile(call)
    assert before is not None and before.outcome is Outcome.NOT_HAPPENED
    out = PUBLISH(call)
    after = PUBLISH.run_reconcile(call)
    assert after is not None and after.outcome is Outcome.HAPPENED and after.output == out
    unpub = UNPUBLISH.run_preview(make_call("cms.unpublish", {"slug": "hello"}, settings=SITE))
    assert unpub is not None and unpub.summary == "would remove site/hello.md"
    assert (call.workspace / "site" / "hello.md").exists()


def test_publish_retryable_failure_then_success(tmp_path: Path) -> None:
    _retry_then_succeed(tmp_path, "cms.publish", "site", "{slug: hi, title: Hi, body: text}", SITE)
    assert _front_matter(tmp_path / "ws" / "site" / "hi.md")["title"] == "Hi"


def test_publish_is_unpublished_when_a_later_step_fails_for_good(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", """\
  - id: publish
    connector: cms.publish
    input: {slug: launch, title: Launch, body: "We launched."}
    idempotency_key: "publish-{{ event.id }}"
  - id: announce
    needs: [publish]
    connector: cms.publish
    input: {slug: "bad/slug", title: Oops, body: x}
    idempotency_key: "announce-{{ event.id }}"
""", connectors={"cms.publish": SITE, "cms.unpublish": SITE})
    out = run_playbook(ws)
    assert out.status is RunStatus.FAILED and out.failed_step == "announce"
    assert not (ws / "site" / "launch.md").exists()
    entries = log_types(ws, out.run_id)
    assert ("publish", "compensation.completed", {"connector": "cms.unpublish", "out": {"removed": True}}) in entries
