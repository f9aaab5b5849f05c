"""The policy plane: the rule DSL (``policies/*.rules``) compiled into a fast, fail-closed evaluator.

Compiling
    The workspace compiler calls ``compile_policies(plan, files, sink)`` once per plan, after
    everything else is checked, with the plan built so far (schemas, connectors, agents, routes,
    playbooks) as the typing context. It returns a ``PolicyBundle`` whose ``compiled`` field holds a
    frozen ``CompiledPolicySet``. Every user error is a positioned diagnostic in ``sink``.

Deciding (what the interpreter calls before every model call, connector call and record write)::

    from aios.policy import DecisionContext, RunInfo

    policies = plan.policies.compiled                      # CompiledPolicySet
    ctx = DecisionContext.for_connector(
        "cms.publish", step_input, now=now, step="publish", side_effect=connector.side_effect,
        run=RunInfo(id=run_id, playbook="content-pipeline", cost_usd=0.12, steps_taken=3, started_at=t0),
        actor="operator")
    decision = policies.decide(ctx)                        # never raises for a rule's failure
    if decision.denied: ...                                # or .allowed / .requires_approval
    log(decision.to_json())                                # effect, deciding rules + spans, errors,
                                                           # policy hash, git commit, input snapshot

    DecisionContext.for_model(route, agent=..., model=..., step=..., now=..., run=...)
    DecisionContext.for_record(schema, fields, id=..., step=..., now=..., run=...)

``now`` is always passed in (timezone-aware, in the workspace's local time: weekday and hour are read
in its offset); rules never read the clock. ``policies.with_git_commit(head_commit(root))`` returns the
same set stamping the commit on every decision. ``DecisionContext.from_json`` /
``CompiledPolicySet.context_from_json`` read the JSON form back (eval inputs, diff replays, the log).

Semantics: deny beats require-approval beats allow; a deny or approval rule whose evaluation fails
counts as fired and an allow that fails grants nothing (both recorded in ``Decision.errors``); with
no rule fired, the strictest ``default`` of the rules files decides, and without one, side-effecting
actions are denied while model calls, record writes and ``side_effect: none`` connectors are allowed.
The language and every diagnostic code: docs/policies.md.
"""

from __future__ import annotations

from aios.policy.compiled import CompiledPolicySet, CompiledRule
from aios.policy.compiler import compile_policies
from aios.policy.context import (
    NO_RECORD,
    Action,
    ActionKind,
    ContextError,
    DecisionContext,
    RecordInfo,
    RunInfo,
)
from aios.policy.decision import Decision, Effect, RuleError, RuleRef
from aios.policy.gitinfo import head_commit

__all__ = [
    "compile_policies", "CompiledPolicySet", "CompiledRule", "Decision", "Effect", "RuleRef", "RuleError",
    "DecisionContext", "Action", "ActionKind", "RunInfo", "RecordInfo", "NO_RECORD", "ContextError",
    "head_commit",
]
