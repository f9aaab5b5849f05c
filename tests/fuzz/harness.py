"""The fuzzing harness shared by the CI-sized property tests and `bench/fuzz.py`.

Four targets, each a boundary where outside input enters aios:

- ``yaml``: a workspace file (playbooks, schemas, aios.yaml) replaced by a mutated or hostile text,
  then compiled as `aios validate` does;
- ``rules``: a policy file replaced the same way;
- ``event``: a raw event body read as `aios run --event` and webhooks read it, then run durably;
- ``context``: a raw decision context read as `aios policy eval` reads it, then decided.

A case passes when the target returns normally or raises an `AiosError` (a clear, intended error),
and every diagnostic it produced carries a position and a code. Anything else is a *traceback*.
The bench adds *crashes* (the process died by a signal) and *hangs* (a case outran its bound) by
running cases in a child process it watches.

Generators draw through a `Chooser`, so the same mutator runs under Hypothesis (which shrinks
failures) and under a seeded `random.Random` (fast, for 10,000-case bench runs).
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aios.errors import AiosError

__all__ = ["Chooser", "RandomChooser", "HypothesisChooser", "Case", "Outcome", "FuzzWorkspace", "TARGETS",
           "generate", "ROOT"]

ROOT = Path(__file__).resolve().parent.parent.parent
T = TypeVar("T")


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...

    def choice(self, options: Sequence[T]) -> T: ...


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]


class HypothesisChooser:
    """Draws through ``st.data()`` so Hypothesis can shrink a failing case."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def integer(self, lo: int, hi: int) -> int:
        return int(self.data.draw(self.st.integers(lo, hi)))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]


# --------------------------------------------------------------------------------------------------
# The fuzz workspace: small, real, and shaped so that event payloads reach templates, a contract,
# a policy with a numeric deny, and a record write.
# --------------------------------------------------------------------------------------------------

AIOS_YAML = """\
name: fuzz
storage: .aios
models:
  default: {model: offline}
runtime:
  actor: fuzzer
  timezone: Europe/Berlin
"""

PLAYBOOKS = """\
kind: schema
name: Payment
fields:
  to: str
  amount_eur: decimal
  note: {type: str, required: false}
---
kind: schema
name: Summary
fields:
  text: str
---
kind: agent
name: summariser
role: Summarise the payment request.
prompt: prompts/summarise.j2
output: Summary
---
kind: playbook
name: pay
trigger: {event: pay.requested}
steps:
  - id: summary
    agent: summariser
    input: "{{ event.payload }}"
  - id: shape
    transform:
      to: "{{ event.payload.to }}"
      amount_eur: "{{ event.payload.amount_eur }}"
      note: "Pay {{ event.payload.to }}: {{ event.payload }}"
    writes: Payment
  - id: send
    needs: [shape]
    connector: pay.send
    input:
      to: "{{ steps.shape.output.to }}"
      amount_eur: "{{ steps.shape.output.amount_eur }}"
      memo: "{{ event.payload }}"
    idempotency_key: "pay-{{ event.id }}"
"""

CONTRACTS = """\
kind: connector
name: pay.send
description: Send a payment (writes a payment file).
module: pay:send
input:
  to: str
  amount_eur: decimal
  memo: any
output:
  ref: str
side_effect: irreversible
"""

CONNECTOR = '''\
"""A payment connector for the fuzz workspace: appends one line per payment to sent.jsonl."""

import json
from pathlib import Path


def send(call):
    line = json.dumps({"key": call.idempotency_key, "to": call.input["to"],
                       "amount_eur": str(call.input["amount_eur"])})
    with open(Path(call.workspace) / "sent.jsonl", "a", encoding="utf-8") as out:
        out.write(line + "\\n")
    return {"ref": call.idempotency_key}
'''

RULES = """\
policy payments

rule payments_allowed
  when action.connector == "pay.send"
  allow "Payments are allowed"

rule payment_records
  when action.kind == "record" and record.schema == "Payment"
  allow "Payment records are written"

rule summaries
  when action.kind == "model" or record.schema == "Summary"
  allow "Summaries are fine"

rule large_payment
  when action.connector == "pay.send" and action.input.amount_eur > 1000 EUR
  deny "Payments above 1000 EUR are refused"

rule weekend
  when action.connector == "pay.send" and now.weekday in ["sat", "sun"] and action.input.amount_eur > 100 EUR
  require approval "Weekend payments above 100 EUR need a human" timeout 2d

default deny
"""

SEED_FILES: dict[str, str] = {
    "aios.yaml": AIOS_YAML,
    "playbooks/payments.yaml": PLAYBOOKS,
    "connectors/contracts.yaml": CONTRACTS,
    "connectors/pay.py": CONNECTOR,
    "policies/payments.rules": RULES,
    "prompts/summarise.j2": "{{ agent.role }}\n{{ input }}\n",
}


def _example_seeds() -> dict[str, str]:
    """The example workspace's own files, as further seeds for the YAML and rules mutators."""
    seeds: dict[str, str] = {}
    for pattern in ("playbooks/*.yaml", "policies/*.rules", "policies/*.test.yaml"):
        for path in sorted(ROOT.glob(pattern)):
            seeds[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    return seeds


class FuzzWorkspace:
    """A temporary copy of the fuzz workspace, compiled once; cases replace one file at a time."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="aios-fuzz-"))
        for rel, text in SEED_FILES.items():
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_text(text, encoding="utf-8")
        from aios.compiler import compile_workspace

        result = compile_workspace(self.root)
        if result.plan is None:
            raise RuntimeError("the fuzz workspace does not compile: "
                               + "; ".join(f"{d.span}: {d.message} [{d.code}]" for d in result.diagnostics))
        self.plan = result.plan
        self._runtime: Any = None
        self.example_seeds = _example_seeds()

    def runtime(self) -> Any:
        if self._runtime is None:
            from aios.runtime.interpreter import Runtime

            self._runtime = Runtime(self.plan, self.root, sleep=lambda s: None)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def with_file(self, rel: str, text: bytes) -> Callable[[], tuple[Any, str]]:
        """A thunk that compiles the workspace with ``rel`` holding ``text`` (restored afterwards): the
        result, and its diagnostics rendered as `aios validate` prints them (text and GitHub forms)."""
        def run() -> tuple[Any, str]:
            from aios.compiler import compile_workspace
            from aios.diagnostics.render import SourceLines, render_github, render_text

            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            original = target.read_bytes() if target.exists() else None
            try:
                target.write_bytes(text)
                result = compile_workspace(self.root)
                shown = render_text(result.diagnostics, SourceLines(self.root)) + render_github(result.diagnostics)
                return result, shown
            finally:
                if original is None:
                    target.unlink()
                else:
                    target.write_bytes(original)
        return run


# --------------------------------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------------------------------

YAML_NOISE = ["\t", ":", " ", "-", "{", "}", "[", "]", "'", '"', "{{", "}}", "\n", "#", "&a ", "*a", "---\n",
              "kind: x\n", "?", "|", ">", "%", "@", "!!int ", "!!python/object:os.system ", "\x00", "\x1b[31m",
              "é", "\ud800", "steps:", "null", "<<: *a\n", ".nan", ".inf", "-.inf", "1e999", "~", "!!binary "]
RULE_NOISE = ["(", ")", "\"", "'", "when ", "and ", "or ", "not ", "==", ">", "<", " in ", "[", "]", ".",
              "deny ", "allow ", "require approval ", "timeout ", "rule r\n", "policy p\n", "\n", "\x00",
              "\x1b[2J", "EUR ", "9" * 30, "1e999", "nan", "99999999999999d", "3000000d", "-", "+", "*", "/",
              "now.", "action.input.", "record.", "#", "default deny\n"]
HOSTILE_SCALARS: list[Any] = ["NaN", "Infinity", "-Infinity", "1e999", "-0", "0.1e-400", "1" * 40,
                              "\u0000", "\x1b[31mred\x1b[0m", "é" * 3, "\u202e", "a" * 5000, "", " ",
                              "{{ 7*7 }}", "{% for x in range(10**9) %}{% endfor %}", "{{ ''.__class__ }}",
                              True, False, None, 0, -1, 10**20, 1.5, 1e308, [], {}, "2026-13-45", "@", "a@b"]


def _deep(kind: str, depth: int) -> str:
    if kind == "flow-list":
        return "x: " + "[" * depth + "]" * depth + "\n"
    if kind == "flow-map":
        return "x: " + "{a: " * depth + "1" + "}" * depth + "\n"
    if kind == "block":  # indentation grows with depth: 1,500 levels is about 2 MiB, past the size limit
        depth = min(depth, 1500)
        return "".join("  " * i + "a:\n" for i in range(depth)) + "  " * depth + "b: 1\n"
    if kind == "merge":
        lines = ["base: &b0 {v: 1}"]
        lines += [f"m{i}: &b{i} {{<<: *b{i - 1}}}" for i in range(1, depth)]
        return "\n".join(lines) + "\n"
    raise ValueError(kind)


def _alias_bomb(width: int, levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def mutate(c: Chooser, text: str, noise: Sequence[str]) -> str:
    """A structure-aware mutation: noise, deletions, line swaps and duplicates, hostile scalars."""
    for _ in range(c.integer(1, 4)):
        op = c.choice(("insert", "delete", "swap", "dup", "scalar", "indent"))
        pos = c.integer(0, max(len(text) - 1, 0))
        lines = text.splitlines(keepends=True) or [""]
        if op == "insert":
            text = text[:pos] + c.choice(noise) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + c.integer(1, 16):]
        elif op in ("swap", "dup"):
            i, j = c.integer(0, len(lines) - 1), c.integer(0, len(lines) - 1)
            if op == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(j, lines[i])
            text = "".join(lines)
        elif op == "scalar":  # replace the value after a ``key:`` with a hostile scalar
            i = c.integer(0, len(lines) - 1)
            line = lines[i]
            if ":" in line:
                key = line.split(":", 1)[0]
                value = c.choice(HOSTILE_SCALARS)
                lines[i] = f"{key}: {json.dumps(value, ensure_ascii=False)}\n"
                text = "".join(lines)
        else:
            i = c.integer(0, len(lines) - 1)
            lines[i] = " " * c.integer(0, 9) + lines[i].lstrip()
            text = "".join(lines)
    return text


def _encode(c: Chooser, text: str) -> bytes:
    how = c.choice(("utf-8", "utf-8", "utf-8", "utf-8", "utf-16", "latin-1", "bom"))
    if how == "utf-16":
        return text.encode("utf-16", "surrogatepass")
    if how == "latin-1":
        return text.encode("latin-1", "replace")
    if how == "bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    return text.encode("utf-8", "surrogatepass")


def gen_yaml(c: Chooser, ws: FuzzWorkspace) -> tuple[str, bytes]:
    seeds = {k: v for k, v in {**SEED_FILES, **ws.example_seeds}.items() if not k.endswith((".rules", ".py"))}
    name = c.choice(sorted(seeds))
    target = name if name in SEED_FILES else "playbooks/extra.yaml"
    if name.startswith("policies/"):
        target = "policies/payments.test.yaml"
    kind = c.integer(0, 9)
    if kind == 0:
        text = _deep(c.choice(("flow-list", "flow-map", "block", "merge")), c.choice((50, 200, 1000, 30_000)))
    elif kind == 1:
        text = _alias_bomb(c.integer(2, 9), c.integer(2, 9))
    else:
        text = mutate(c, seeds[name], YAML_NOISE)
    return target, _encode(c, text)


def gen_rules(c: Chooser, ws: FuzzWorkspace) -> tuple[str, bytes]:
    seeds = {k: v for k, v in {**SEED_FILES, **ws.example_seeds}.items() if k.endswith(".rules")}
    name = c.choice(sorted(seeds))
    text = seeds[name] if name in SEED_FILES else seeds[name]
    if c.integer(0, 5) == 0:
        extra = c.choice((f"rule big\n  when action.input.amount_eur > {'9' * c.choice((30, 5000))}\n  deny \"x\"\n",
                          "rule t\n  when true\n  require approval \"x\" timeout 999999999999999d\n",
                          "rule z\n  when now.hour > 1\n  deny \"" + "\x1b[31m\x00" * 3 + "\"\n",
                          "rule d\n  when " + "(" * 500 + "true" + ")" * 500 + "\n  deny \"x\"\n",
                          "rule n\n  when " + "not " * 2000 + "true\n  deny \"x\"\n"))
        text = text + "\n" + extra
    else:
        text = mutate(c, text, RULE_NOISE)
    return "policies/payments.rules", _encode(c, text)


def _payload_value(c: Chooser, depth: int = 0) -> Any:
    kind = c.integer(0, 9 if depth < 4 else 5)
    if kind <= 5:
        return c.choice(HOSTILE_SCALARS)
    if kind <= 7:
        return [_payload_value(c, depth + 1) for _ in range(c.integer(0, 3))]
    return {c.choice(("to", "amount_eur", "note", "x", "")): _payload_value(c, depth + 1) for _ in range(c.integer(0, 3))}


def gen_json_body(c: Chooser) -> bytes:
    """A raw JSON document as a sender might post it: well formed, hostile, or broken."""
    kind = c.integer(0, 11)
    if kind == 0:
        depth = c.choice((100, 500, 5000, 100_000))
        return ("[" * depth + "]" * depth).encode()
    if kind == 1:
        return b'{"to": "acme", "amount_eur": ' + c.choice((b"NaN", b"Infinity", b"-Infinity", b"1e999",
                                                            b"9" * 5000, b'"NaN"', b'"Infinity"')) + b"}"
    if kind == 2:
        return c.choice((b'"\\ud800"', b'{"to": "\\udfff"}', b"\xff\xfe{\x00}\x00", b"\xc3\x28", b"", b"null",
                         b"\x00", "{\"to\": \"é\"}".encode("utf-16")))
    payload: Any = {"to": c.choice(("acme", "", "\x1b[0m", "x" * 300)),
                    "amount_eur": c.choice((12.5, 999, 1001, "450", "NaN", -1, 0, "1e3", None, "abc")),
                    "note": _payload_value(c)}
    if kind == 3:
        payload = _payload_value(c)
    envelope: Any = {"type": "pay.requested", "id": f"e-{c.integer(0, 10**9)}", "payload": payload}
    if kind == 4:
        envelope["time"] = c.choice(("2026-01-01T00:00:00Z", "not a time", 12, "9999-99-99"))
    if kind == 5:
        envelope["type"] = c.choice(("", "pay requested", 3, None, "x" * 300))
    text = json.dumps(envelope, ensure_ascii=c.choice((True, False)))
    if kind == 6:
        text = mutate(c, text, ["{", "}", "[", "]", ",", ":", '"', "\\", "NaN", "1e999", "\\ud800", " "])
    return text.encode("utf-8", "surrogatepass")


def gen_event(c: Chooser, ws: FuzzWorkspace) -> bytes:
    return gen_json_body(c)


def gen_context(c: Chooser, ws: FuzzWorkspace) -> bytes:
    if c.integer(0, 5) == 0:
        return gen_json_body(c)
    amount = c.choice((12, 1001, 150, "NaN", "Infinity", "-Infinity", "1e999", None, "12", -5, 10**30, 1e308,
                       [1], {"a": 1}, "sNaN", "1" * 120))
    ctx: Any = {"action": {"kind": c.choice(("connector", "connector", "connector", "model", "record", "x")),
                           "connector": c.choice(("pay.send", "pay.send", "files.write", "", 7)),
                           "input": {"to": "acme", "amount_eur": amount, "memo": _payload_value(c)}},
                "now": c.choice(("2026-12-05T10:00:00+01:00", "2026-12-06T10:00:00+01:00", "2026-12-05T10:00:00",
                                 "2026-12-05T10:00:00+01:00", "yesterday", 5, None))}
    if c.integer(0, 5) == 0:
        ctx = mutate(c, json.dumps(ctx), ["{", "}", "[", "]", ",", ":", '"', "NaN", "\\ud800"])
        return ctx.encode("utf-8", "surrogatepass")
    return json.dumps(ctx).encode()


# --------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    target: str
    data: Any  # (file, bytes) for yaml/rules; bytes for event/context

    def describe(self) -> str:
        blob = self.data[1] if isinstance(self.data, tuple) else self.data
        where = f"{self.data[0]}: " if isinstance(self.data, tuple) else ""
        return f"{self.target} {where}{blob[:120]!r}{'…' if len(blob) > 120 else ''} ({len(blob)} bytes)"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str = ""
    refused: bool = False  # an intended, clear refusal (an `AiosError`) rather than a processed case


def _check_diagnostics(compiled: tuple[Any, str]) -> Outcome:
    result, shown = compiled
    for d in result.diagnostics:
        if d.span is None or d.span.line < 0 or d.span.col < 0 or not d.code or not d.message:
            return Outcome(False, f"diagnostic without a position or code: {d}")
    # messages keep the input's text (JSON and SARIF encode it); what is printed must not carry it raw
    if any(ch in shown for ch in ("\x00", "\x1b", "\x9b")):
        return Outcome(False, f"printed diagnostics echo a control character: {shown[:300]!r}")
    if result.plan is None and result.errors == 0:
        return Outcome(False, "no plan but no error either")
    return Outcome(True)


def run_yaml(ws: FuzzWorkspace, data: tuple[str, bytes]) -> Outcome:
    return _check_diagnostics(ws.with_file(*data)())


def run_rules(ws: FuzzWorkspace, data: tuple[str, bytes]) -> Outcome:
    return _check_diagnostics(ws.with_file(*data)())


def run_event(ws: FuzzWorkspace, data: bytes) -> Outcome:
    from aios.limits import read_json
    from aios.runtime.runstate import RunStatus

    body = read_json(data, what="the event")  # PayloadError is a clear, intended refusal
    rt = ws.runtime()
    outcome = rt.start("pay", body)
    if outcome.status in (RunStatus.RUNNING, RunStatus.ADMITTED):
        return Outcome(False, f"run {outcome.run_id} left {outcome.status.value}")
    if outcome.status is RunStatus.COMPLETED:
        sent = json.loads((ws.root / "sent.jsonl").read_text().splitlines()[-1])
        amount = sent["amount_eur"]
        if amount.lower() in ("nan", "inf", "-inf", "infinity", "-infinity", "snan"):
            return Outcome(False, f"a non-finite amount was paid: {amount}")
    return Outcome(True)


def run_context(ws: FuzzWorkspace, data: bytes) -> Outcome:
    from aios.limits import read_json

    value = read_json(data, what="the decision context")
    compiled = ws.plan.policies.compiled
    ctx = compiled.context_from_json(value)
    decision = compiled.decide(ctx)
    amount = value.get("action", {}).get("input", {}).get("amount_eur") if isinstance(value, dict) else None
    if decision.effect.label == "allow" and isinstance(amount, str) and amount.lower() in ("nan", "infinity"):
        return Outcome(False, f"a non-finite amount was allowed: {amount}")
    return Outcome(True)


TARGETS: dict[str, tuple[Callable[[Chooser, FuzzWorkspace], Any], Callable[[FuzzWorkspace, Any], Outcome]]] = {
    "yaml": (gen_yaml, run_yaml),
    "rules": (gen_rules, run_rules),
    "event": (gen_event, run_event),
    "context": (gen_context, run_context),
}


def generate(target: str, c: Chooser, ws: FuzzWorkspace) -> Case:
    return Case(target, TARGETS[target][0](c, ws))


def execute(ws: FuzzWorkspace, case: Case) -> Outcome:
    """Run one case in this process: an `AiosError` is a clear refusal; any other exception fails."""
    try:
        return TARGETS[case.target][1](ws, case.data)
    except AiosError as err:
        if any(ch in str(err) for ch in ("\x00", "\x1b")):
            return Outcome(False, f"the error echoes a control character: {str(err)[:200]!r}")
        return Outcome(True, type(err).__name__, refused=True)
    except BaseException as err:  # noqa: BLE001 - the property is "nothing else escapes"
        if isinstance(err, KeyboardInterrupt):
            raise
        return Outcome(False, "traceback: " + "".join(traceback.format_exception(err))[-1500:])
