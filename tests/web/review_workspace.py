"""A copy of the example workspace where content-pipeline's `distribute` step waits for a policy
approval (four channels: rule `social_blast`), whatever the weekday (the weekend rule for
`cms.publish` is left out), and a rule denies posts to TikTok, for the edit-then-approve and reject-with-compensation tests."""

from __future__ import annotations

import re
from pathlib import Path

from .workspace import example_copy

__all__ = ["review_copy", "FOUR_CHANNELS", "NO_TIKTOK"]

FOUR_CHANNELS = "[linkedin, newsletter, mastodon, bluesky]"
#: a deny an edited input can run into
NO_TIKTOK = """
rule no_tiktok
  when action.connector == "social.schedule" and "tiktok" in action.input.channels
  deny "No posts to TikTok"
"""


def review_copy(dst: Path) -> Path:
    ws = example_copy(dst)
    pb = ws / "playbooks" / "content-pipeline.yaml"
    text = pb.read_text()
    assert "channels: [linkedin, newsletter]" in text
    pb.write_text(text.replace("channels: [linkedin, newsletter]", f"channels: {FOUR_CHANNELS}"))
    rules = ws / "policies" / "publishing.rules"
    text = rules.read_text()
    text, n = re.subn(r"rule weekend_publish\n(  .*\n)+", "", text)
    assert n == 1
    rules.write_text(text + NO_TIKTOK)
    return ws
