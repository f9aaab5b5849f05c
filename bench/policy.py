"""Per-decision latency of the compiled aios policy evaluator vs cedarpy, and rule-file parse time.

Both sides evaluate an equivalent 20-rule policy set over the same 12 actions (connector calls to
six connectors and model calls), in this one process:

- aios: ``CompiledPolicySet.decide(ctx)``: rules compiled once to Python, indexed by connector; every
  decision records its deciding rules (ids and spans), its errors and the input snapshot.
- cedarpy: ``is_authorized(request, policy_set, entities)`` with a pre-parsed ``PolicySet`` and
  ``Entities`` handle (no re-parsing per call). Require-approval rules are ``forbid`` policies with
  an annotation, the only way to express them in Cedar.

Each side's decisions are checked against each other (allowed or not) before timing. The median
per-decision time over all actions and rounds is reported. Also: parsing a 200-line rules file
with the cached Lark parser, and compiling it (parse + type check + code generation).

    python bench/policy.py [--rounds 7] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from typing import Any

TARGET_US = 5.0
TARGET_SPEEDUP = 20.0

AIOS_RULES = """policy bench
rule r01 when action.connector == "cms.publish" and now.weekday not in ["sat", "sun"] allow "weekday"
rule r02 when action.connector == "cms.publish" and now.weekday in ["sat", "sun"] require approval "weekend"
rule r03 when action.connector == "cms.publish" and starts_with(action.input.slug, "internal-") deny "internal"
rule r04 when action.connector == "cms.publish" and "draft" in action.input.tags deny "draft"
rule r05 when action.connector == "social.schedule" and "linkedin" in action.input.channels allow "linkedin"
rule r06 when action.connector == "social.schedule" and "tiktok" in action.input.channels require approval "tiktok"
rule r07 when action.connector == "supplier.order" require approval "orders"
rule r08 when action.connector == "supplier.order" and action.input.total_eur > 2000 EUR require approval "big"
rule r09 when action.connector == "supplier.order" and action.input.quantity > 10000 deny "absurd"
rule r10 when action.connector == "payments.refund" and action.input.amount_eur <= 50 EUR allow "small refund"
rule r11 when action.connector == "payments.refund" and action.input.amount_eur > 200 EUR require approval "refund"
rule r12 when action.connector == "payments.refund" and action.input.amount_eur > 5000 EUR deny "huge refund"
rule r13 when action.connector == "email.send" and ends_with(action.input.to, ".example") allow "mail"
rule r14 when action.connector == "email.send" and action.input.cc_count > 5 require approval "mass mail"
rule r15 when action.connector == "http.request" and action.input.method == "GET" allow "reads"
rule r16 when action.connector == "http.request" and action.input.method != "GET" and actor != "operator" deny "w"
rule r17 when action.kind == "model" and action.route == "smart" and run.cost_usd > 0.5 USD require approval "$"
rule r18 when action.kind == "model" and run.cost_usd >= 2 USD deny "budget"
rule r19 when action.kind == "model" allow "models"
rule r20 when actor == "intruder" deny "intruder"
"""

CEDAR_RULES = """
@id("r01") permit(principal, action == Action::"connector", resource == Connector::"cms.publish")
  when { !["sat", "sun"].contains(context.weekday) };
@id("r02") @effect("require_approval") forbid(principal, action == Action::"connector", resource == Connector::"cms.publish")
  when { ["sat", "sun"].contains(context.weekday) };
@id("r03") forbid(principal, action == Action::"connector", resource == Connector::"cms.publish")
  when { context.input.slug like "internal-*" };
@id("r04") forbid(principal, action == Action::"connector", resource == Connector::"cms.publish")
  when { context.input.tags.contains("draft") };
@id("r05") permit(principal, action == Action::"connector", resource == Connector::"social.schedule")
  when { context.input.channels.contains("linkedin") };
@id("r06") @effect("require_approval") forbid(principal, action == Action::"connector", resource == Connector::"social.schedule")
  when { context.input.channels.contains("tiktok") };
@id("r07") @effect("require_approval") forbid(principal, action == Action::"connector", resource == Connector::"supplier.order");
@id("r08") @effect("require_approval") forbid(principal, action == Action::"connector", resource == Connector::"supplier.order")
  when { context.input.total_cents > 200000 };
@id("r09") forbid(principal, action == Action::"connector", resource == Connector::"supplier.order")
  when { context.input.quantity > 10000 };
@id("r10") permit(principal, action == Action::"connector", resource == Connector::"payments.refund")
  when { context.input.amount_cents <= 5000 };
@id("r11") @effect("require_approval") forbid(principal, action == Action::"connector", resource == Connector::"payments.refund")
  when { context.input.amount_cents > 20000 };
@id("r12") forbid(principal, action == Action::"connector", resource == Connector::"payments.refund")
  when { context.input.amount_cents > 500000 };
@id("r13") permit(principal, action == Action::"connector", resource == Connector::"email.send")
  when { context.input.to like "*.example" };
@id("r14") @effect("require_approval") forbid(principal, action == Action::"connector", resource == Connector::"email.send")
  when { context.input.cc_count > 5 };
@id("r15") permit(principal, action == Action::"connector", resource == Connector::"http.request")
  when { context.input.method == "GET" };
@id("r16") forbid(principal, action == Action::"connector", resource == Connector::"http.request")
  when { context.input.method != "GET" && principal != User::"operator" };
@id("r17") @effect("require_approval") forbid(principal, action == Action::"model", resource == Route::"smart")
  when { context.cost_cents > 50 };
@id("r18") forbid(principal, action == Action::"model", resource) when { context.cost_cents >= 200 };
@id("r19") permit(principal, action == Action::"model", resource);
@id("r20") forbid(principal == User::"intruder", action, resource);
"""

# (actor, kind, connector-or-route, input, cost_usd, weekday)
SCENARIOS: list[tuple[str, str, str, dict[str, Any], float, str]] = [
    ("operator", "connector", "cms.publish", {"slug": "heat-pumps", "tags": ["energy"]}, 0.1, "mon"),
    ("operator", "connector", "cms.publish", {"slug": "heat-pumps", "tags": ["energy"]}, 0.1, "sat"),
    ("operator", "connector", "cms.publish", {"slug": "internal-plan", "tags": ["draft"]}, 0.1, "tue"),
    ("operator", "connector", "social.schedule", {"channels": ["linkedin", "newsletter"]}, 0.1, "wed"),
    ("operator", "connector", "supplier.order", {"quantity": 150, "total_eur": 510.0}, 0.0, "thu"),
    ("operator", "connector", "payments.refund", {"amount_eur": 40.0}, 0.0, "fri"),
    ("operator", "connector", "payments.refund", {"amount_eur": 900.0}, 0.0, "fri"),
    ("operator", "connector", "email.send", {"to": "li@harbor.example", "cc_count": 1}, 0.0, "mon"),
    ("schedule", "connector", "http.request", {"method": "POST"}, 0.0, "mon"),
    ("operator", "model", "default", {}, 0.3, "mon"),
    ("operator", "model", "smart", {}, 0.8, "mon"),
    ("intruder", "model", "default", {}, 0.0, "sun"),
]
_DAYS = {"mon": 23, "tue": 24, "wed": 25, "thu": 26, "fri": 27, "sat": 28, "sun": 29}  # November 2026


def _plan() -> Any:
    from aios.plan import Connector, ModelRoute, Plan, PolicyBundle, SideEffect, WorkspaceSettings
    from aios.plan.types import FieldDef, FieldType, RecordType, TypeKind

    def conn(name: str, side: SideEffect, **fields: FieldType) -> Connector:
        defs = tuple(FieldDef(k, t, True) for k, t in fields.items())
        return Connector(name, RecordType(name, defs), RecordType(name + ".out", ()), side)

    s, i, d = FieldType(TypeKind.STR), FieldType(TypeKind.INT), FieldType(TypeKind.DECIMAL)
    strs = FieldType(TypeKind.LIST, items=s)
    connectors = (
        conn("cms.publish", SideEffect.REVERSIBLE, slug=s, tags=strs),
        conn("social.schedule", SideEffect.REVERSIBLE, channels=strs),
        conn("supplier.order", SideEffect.IRREVERSIBLE, quantity=i, total_eur=d),
        conn("payments.refund", SideEffect.IRREVERSIBLE, amount_eur=d),
        conn("email.send", SideEffect.IRREVERSIBLE, to=s, cc_count=i),
        conn("http.request", SideEffect.IRREVERSIBLE, method=FieldType(TypeKind.ENUM, values=("GET", "POST"))),
    )
    return Plan(settings=WorkspaceSettings(name="bench"), routes=(ModelRoute("default", "offline"),
                ModelRoute("smart", "openai/gpt-4o-mini")), secrets=(), schemas=(), agents=(),
                connectors=connectors, flags=(), playbooks=(), prompts=(), policies=PolicyBundle(""))


def _aios_contexts() -> list[Any]:
    from aios.policy import DecisionContext, RunInfo

    out = []
    for actor, kind, target, inp, cost, day in SCENARIOS:
        now = dt.datetime(2026, 11, _DAYS[day], 10, 0, tzinfo=dt.UTC)
        run = RunInfo(id="r1", playbook="bench", cost_usd=cost, steps_taken=3, started_at=now)
        if kind == "model":
            out.append(DecisionContext.for_model(target, now=now, run=run, actor=actor))
        else:
            out.append(DecisionContext.for_connector(target, inp, now=now, run=run, actor=actor))
    return out


def _cedar_requests() -> list[dict[str, Any]]:
    out = []
    for actor, kind, target, inp, cost, day in SCENARIOS:
        cinp = {k: v for k, v in inp.items() if not isinstance(v, float)}
        for k, v in inp.items():
            if isinstance(v, float):
                cinp[k.replace("_eur", "_cents")] = round(v * 100)
        resource = f'Route::"{target}"' if kind == "model" else f'Connector::"{target}"'
        out.append({"principal": f'User::"{actor}"', "action": f'Action::"{kind}"', "resource": resource,
                    "context": {"weekday": day, "cost_cents": round(cost * 100), "input": cinp}})
    return out


def _per_call_us(fn: Any, arg: Any, inner: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(inner):
        fn(arg)
    return (time.perf_counter_ns() - start) / inner / 1000


def _rules_file(lines: int) -> str:
    """A valid rules file of exactly ``lines`` lines (4 header lines, then 4 lines per rule)."""
    out = ["# generated for the bench", "policy big", "", "default deny"]
    i = 0
    while len(out) + 4 <= lines:
        out += [f"rule r{i}", f'  when action.connector == "supplier.order" and action.input.quantity > {i}',
                f'    and (now.weekday in ["sat", "sun"] or run.cost_usd > {i} USD)',
                f'  require approval "rule {i}" by "operator" timeout 2h']
        i += 1
    out += ["#"] * (lines - len(out))
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    import cedarpy

    from aios.diagnostics import DiagnosticSink
    from aios.policy import compile_policies
    from aios.policy.parser import lark_parser, parse_rules

    plan = _plan()
    sink = DiagnosticSink()
    compiled = compile_policies(plan, [("policies/bench.rules", AIOS_RULES)], sink).compiled
    if sink.has_errors or len(compiled.rules) != 20:
        raise SystemExit(f"bench rules do not compile: {[d.message for d in sink.items]}")
    contexts = _aios_contexts()
    policy_set = cedarpy.PolicySet.from_str(CEDAR_RULES)
    entities = cedarpy.Entities.from_json_str("[]")
    requests = _cedar_requests()

    def cedar(req: dict[str, Any]) -> Any:
        return cedarpy.is_authorized(req, policy_set, entities)

    agree = 0
    for ctx, req in zip(contexts, requests, strict=True):
        ours, theirs = compiled.decide(ctx), cedar(req)
        agree += int(ours.allowed == theirs.allowed)
    if agree != len(contexts):
        raise SystemExit(f"aios and cedar disagree on {len(contexts) - agree} of {len(contexts)} actions")

    aios_samples: list[float] = []
    cedar_samples: list[float] = []
    for _ in range(args.rounds):  # alternate sides so a burst of load elsewhere hits both
        for ctx, req in zip(contexts, requests, strict=True):
            aios_samples.append(_per_call_us(compiled.decide, ctx, 2000))
            cedar_samples.append(_per_call_us(cedar, req, 40))
    aios_us = statistics.median(aios_samples)
    cedar_us = statistics.median(cedar_samples)

    lark_parser()  # grammar cached, as in a running process
    text = _rules_file(200)
    check = DiagnosticSink()
    parse_rules("policies/big.rules", text, check)
    if len(text.splitlines()) != 200 or check.has_errors:
        raise SystemExit("the generated 200-line rules file does not parse")
    parse_ms = statistics.median(
        _per_call_us(lambda t: parse_rules("policies/big.rules", t, DiagnosticSink()), text, 5) / 1000
        for _ in range(args.rounds))
    compile_ms = statistics.median(
        _per_call_us(lambda t: compile_policies(plan, [("policies/big.rules", t)], DiagnosticSink()), text, 3) / 1000
        for _ in range(args.rounds))

    result = {
        "aios_us": round(aios_us, 3),
        "cedarpy_us": round(cedar_us, 3),
        "speedup": round(cedar_us / aios_us, 1),
        "parse_ms_200_lines": round(parse_ms, 3),
        "compile_ms_200_lines": round(compile_ms, 3),
        "rules": 20,
        "actions": len(contexts),
        "target_us": TARGET_US,
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": aios_us <= TARGET_US and cedar_us / aios_us >= TARGET_SPEEDUP,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"policy decision, 20 rules, {len(contexts)} actions, median of {len(aios_samples)} samples")
        print(f"  aios    {aios_us:8.2f} µs/decision (deciding rules, errors and input recorded)")
        print(f"  cedarpy {cedar_us:8.2f} µs/decision (pre-parsed PolicySet and Entities)")
        print(f"  speedup {cedar_us / aios_us:8.1f}x   (target ≥ {TARGET_SPEEDUP:g}x, ≤ {TARGET_US:g} µs)")
        print(f"  parse a 200-line rules file: {parse_ms:.2f} ms (Lark grammar cached); "
              f"full compile: {compile_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
