"""The YAML reader reuses one parser setup per thread; an error in one file leaves nothing behind."""

from __future__ import annotations

import threading

from aios.diagnostics import DiagnosticSink
from aios.load.nodes import YMap
from aios.load.yaml_reader import read_yaml


def _names(text: str, file: str = "playbooks/x.yaml") -> tuple[list[str], list[str]]:
    sink = DiagnosticSink()
    docs = read_yaml(file, text, sink)
    names = [str(d.root.get("name").value) for d in docs if isinstance(d.root, YMap)]  # type: ignore[union-attr]
    return names, [d.code for d in sink.items]


def test_a_broken_file_does_not_disturb_the_next_one_on_the_same_thread() -> None:
    good = "kind: agent\nname: a\n---\nkind: agent\nname: b\n"
    assert _names(good) == (["a", "b"], [])
    for broken in ("kind: agent\nname: [unclosed\n", "a: 1\n b: 2\n", "k: 'open\n", "\t- tab\n"):
        names, codes = _names(broken)
        assert names == [] and codes, broken
        assert _names(good) == (["a", "b"], []), f"after {broken!r}"


def test_threads_read_at_the_same_time() -> None:
    texts = [f"kind: agent\nname: n{i}\nrole: {'x' * (i % 50)}\n" for i in range(200)]
    results: dict[int, list[str]] = {}

    def work(offset: int) -> None:
        for i in range(offset, len(texts), 4):
            results[i] = _names(texts[i])[0]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: [f"n{i}"] for i in range(len(texts))}


def test_plain_scalars_follow_the_yaml_1_2_core_schema_and_explicit_str_tags() -> None:
    sink = DiagnosticSink()
    doc = read_yaml("x.yaml", "a: 12\nb: !!str 12\nc: !local 13\nd: 1.5\ne: yes\nf: ~\ng: true\nh: '7'\n", sink)[0]
    assert isinstance(doc.root, YMap)
    values = {str(k.value): v.value for k, v in doc.root.entries}  # type: ignore[union-attr]
    assert values == {"a": 12, "b": "12", "c": "13", "d": 1.5, "e": "yes", "f": None, "g": True, "h": "7"}
    assert sink.items == []
