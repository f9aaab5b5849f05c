"""Idempotency keys and the input each was first used with.

A connector with a side effect applies one effect per idempotency key; called again with the same
key it answers with the first effect's output. That is right for a retry or a resume, which send the
same input, and wrong when the input changed: a re-run whose subject was edited would be reported
as sent while the target kept the old message. So the interpreter claims ``(connector, key)`` in
the transaction that logs a call's intent, with a digest of the effective input (the input after
contract validation), and checks every later claim against it:

- the same input: a dedupe. When the first call completed, its output is reused without calling the
  connector again, and the step's log entry says so (``dedup``: the run, step and time of the call
  that did it): the trace reads "deduplicated (sent by run X)";
- another input, after the first call completed: `IdempotencyConflict` (``idempotency-conflict``),
  naming the run that used the key and the fields that differ; the step fails and nothing is sent;
- the first call never completed (it failed, or its run stopped before a result): it holds nothing,
  and the new call takes the key over.

One table, ``effect_keys``, in the state store, for every connector with a side effect (built-in or
the workspace's): the rule lives here and in the interpreter's connector call path, not in each
connector. Only digests and outputs are stored (no input values).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from aios.errors import RunError

__all__ = ["CODE", "Prior", "IdempotencyConflict", "claim", "prior_for", "complete", "input_digest"]

CODE = "idempotency-conflict"

_DDL = ("CREATE TABLE IF NOT EXISTS effect_keys (connector TEXT NOT NULL, key TEXT NOT NULL, digest TEXT NOT NULL, "
        "fields TEXT NOT NULL, run_id TEXT NOT NULL, step_id TEXT NOT NULL, item INTEGER, at TEXT NOT NULL, "
        "completed_at TEXT, output TEXT, PRIMARY KEY (connector, key))")


@dataclass(frozen=True, slots=True)
class Prior:
    """The completed call that first used a key with the same input."""

    run_id: str
    step_id: str
    item: int | None
    at: str
    output: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run": self.run_id, "step": self.step_id, "at": self.at}
        if self.item is not None:
            out["i"] = self.item
        return out


class IdempotencyConflict(RunError):
    """The key was used, by a call that completed, with a different input."""

    code = CODE

    def __init__(self, connector: str, key: str, run_id: str, step_id: str, item: int | None, at: str,
                 fields: tuple[str, ...]) -> None:
        where = step_id if item is None else f"{step_id}#{item}"
        differ = f" (fields that differ: {', '.join(fields)})" if fields else ""
        super().__init__(f"{CODE}: the idempotency key `{key}` of {connector} was already used by run {run_id} "
                         f"(step {where}) at {at} with a different input{differ}; nothing was sent. The key "
                         "names one effect: to send the changed input as a new effect, give it a new key")
        self.detail = {"code": CODE, "connector": connector, "key": key, "run": run_id, "step": step_id,
                       "i": item, "at": at, "fields": list(fields)}


def input_digest(inp: Any) -> tuple[str, dict[str, str]]:
    """The digest of an input and of each of its top-level fields (to name what changed)."""

    def h(value: Any) -> str:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    fields = {str(k): h(v)[:16] for k, v in inp.items()} if isinstance(inp, dict) else {}
    return h(inp), fields


def _row(conn: sqlite3.Connection, connector: str, key: str) -> tuple[Any, ...] | None:
    try:
        row: tuple[Any, ...] | None = conn.execute("SELECT digest, fields, run_id, step_id, item, at, completed_at, output FROM effect_keys "
                            "WHERE connector = ? AND key = ?", (connector, key)).fetchone()
    except sqlite3.OperationalError as err:
        if "no such table" not in str(err):
            raise
        return None
    return row


def _prior(row: Any) -> Prior:
    output = json.loads(row[7]) if row[7] else {}
    return Prior(str(row[2]), str(row[3]), None if row[4] is None else int(row[4]), str(row[6]),
                 output if isinstance(output, dict) else {})


def claim(conn: sqlite3.Connection, *, connector: str, key: str, inp: Any, run_id: str, step_id: str,
          item: int | None, at: str) -> Prior | None:
    """Claim the key for this call, inside the transaction that logs its intent.

    Returns the earlier completed call when it had the same input (a dedupe), None when the key is
    this call's; raises `IdempotencyConflict` when a completed call used it with another input."""
    digest, fields = input_digest(inp)
    row = _row(conn, connector, key)
    if row is not None and row[6] is not None:  # a completed call holds the key
        if row[0] == digest:
            return _prior(row)
        before = json.loads(row[1]) if row[1] else {}
        differ = tuple(sorted(f for f in set(before) | set(fields) if before.get(f) != fields.get(f)))
        raise IdempotencyConflict(connector, key, str(row[2]), str(row[3]), row[4], str(row[6]), differ)
    conn.execute(_DDL)
    conn.execute("INSERT OR REPLACE INTO effect_keys(connector, key, digest, fields, run_id, step_id, item, at) "
                 "VALUES (?,?,?,?,?,?,?,?)", (connector, key, digest, json.dumps(fields, sort_keys=True), run_id,
                                              step_id, item, at))
    return None


def prior_for(conn: sqlite3.Connection, *, connector: str, key: str, inp: Any, run_id: str, step_id: str,
              item: int | None) -> Prior | None:
    """For a logged intent called again (a resume): another call that completed this key with the same
    input, whose output stands (read only; the intent's own claim is not a prior)."""
    row = _row(conn, connector, key)
    if row is None or row[6] is None or row[0] != input_digest(inp)[0]:
        return None
    if (str(row[2]), str(row[3]), row[4]) == (run_id, step_id, item):
        return None
    return _prior(row)


def complete(conn: sqlite3.Connection, *, connector: str, key: str, run_id: str, step_id: str, item: int | None,
             output: Any, at: str) -> None:
    """Mark this run's claim of the key completed, with the output a dedupe will reuse."""
    conn.execute(_DDL)
    conn.execute("UPDATE effect_keys SET completed_at = ?, output = ? WHERE connector = ? AND key = ? AND run_id = ? "
                 "AND step_id = ? AND item IS ? AND completed_at IS NULL",
                 (at, json.dumps(output, sort_keys=True, default=str), connector, key, run_id, step_id, item))
