"""Knowledge intake: heading-sized chunks with exact line ranges, kept in step with the files."""

from __future__ import annotations

from pathlib import Path

from aios.memory.knowledge import MAX_CHUNK_CHARS, chunk_text, note_documents
from aios.memory.memory import Memory
from aios.memory.model import DocKind, FileSource, Query

DOC = """\
---
title: Pricing
tags: [sales, pricing]
---
Prices for 2026.

# Pricing

## Day rates

Writing costs 650 EUR per day.

```
# a comment in a code block, not a heading
```

## Packages
### Starter
Small package.

### Empty

## Rush jobs
Under five days adds 50 percent.
"""


def test_markdown_chunks_have_heading_paths_and_exact_line_ranges() -> None:
    chunks, meta = chunk_text(DOC, "pricing")
    assert meta["tags"] == ["sales", "pricing"]
    lines = DOC.splitlines()
    got = [(c.title, c.line_start, c.line_end) for c in chunks]
    assert got == [
        ("Pricing", 5, 5),
        ("Pricing › Day rates", 9, 15),
        ("Pricing › Packages › Starter", 18, 19),
        ("Pricing › Rush jobs", 23, 24),
    ]
    for c in chunks:
        # Every chunk's text is exactly what its line range holds (minus the heading line).
        span = "\n".join(lines[c.line_start - 1:c.line_end])
        assert c.text in span
    assert "# a comment in a code block" in chunks[1].text


def test_long_sections_split_at_blank_lines_and_text_files_by_paragraph() -> None:
    para = "word " * 200
    text = "# Big\n\n" + "\n\n".join(para for _ in range(8))
    chunks, _ = chunk_text(text, "big")
    assert len(chunks) > 1
    assert all(len(c.text) <= MAX_CHUNK_CHARS for c in chunks)
    assert chunks[1].title == "Big (part 2)"
    assert chunks[0].line_start == 1 and chunks[-1].line_end == len(text.splitlines())
    plain, _ = chunk_text("first para\n\nsecond para\n", "notes", markdown=False)
    assert [(c.title, c.line_start, c.line_end) for c in plain] == [("notes", 1, 3)]


def test_note_documents_carry_file_provenance_and_folder_tags(tmp_path: Path) -> None:
    root = tmp_path
    (root / "knowledge" / "suppliers").mkdir(parents=True)
    path = root / "knowledge" / "suppliers" / "terms.md"
    path.write_text("# Supplier terms\n\n## Paperworks\n\nLead time ten days.\n")
    docs = note_documents(path, root, root / "knowledge")
    assert [d.provenance for d in docs] == [FileSource("knowledge/suppliers/terms.md", 3, 5)]
    assert docs[0].tags == ("suppliers",)
    assert docs[0].kind is DocKind.NOTE
    assert docs[0].body.startswith("Supplier terms › Paperworks")


def test_memory_add_and_files_kept_in_step(workspace: Path, tmp_path: Path) -> None:
    mem = Memory.for_workspace(workspace)
    hits = mem.search(Query("rush jobs", kinds=(DocKind.NOTE,)))
    assert hits and hits[0].provenance == FileSource("knowledge/pricing.md", 7, 9)

    # An edit is picked up (the old chunk text is gone), a removed file leaves the index.
    (workspace / "knowledge" / "pricing.md").write_text("# Pricing\n\n## Weekend work\n\nWeekends cost double.\n")
    assert all("Rush" not in h.title for h in mem.search(Query("rush jobs", kinds=(DocKind.NOTE,))))
    assert mem.search(Query("weekend"))[0].provenance == FileSource("knowledge/pricing.md", 3, 5)
    (workspace / "knowledge" / "support" / "faq.md").unlink()
    assert mem.search(Query("duplicate card charge")) == []

    # `add` indexes a file outside the knowledge folder; it stays indexed after a reindex.
    extra = workspace / "docs" / "onboarding.md"
    extra.parent.mkdir()
    extra.write_text("# Onboarding\n\nNew clients get a kickoff call within two days.\n")
    report = mem.add(extra)
    assert report.notes == 1
    assert mem.search(Query("kickoff call"))[0].provenance == FileSource("docs/onboarding.md", 1, 3)
    mem.reindex()
    assert mem.search(Query("kickoff call"))[0].provenance == FileSource("docs/onboarding.md", 1, 3)
    assert mem.search(Query("weekend"))


def test_a_file_that_is_not_utf8_is_reported_not_fatal(workspace: Path) -> None:
    (workspace / "knowledge" / "broken.md").write_bytes(b"# Broken\n\n\xff\xfe not utf-8\n")
    report = Memory.for_workspace(workspace).sync()
    assert any("broken.md" in p and "UTF-8" in p for p in report.problems)
    assert report.notes >= 3
