"""Diagnostic codes of the policy plane, registered in the shared registry on import.

Each code is documented in docs/policies.md (section "Diagnostics"); a code never changes meaning.
"""

from __future__ import annotations

from aios.diagnostics.codes import Code, register

__all__ = ["POLICY_CODES"]

POLICY_CODES: tuple[Code, ...] = (
    Code("rule-syntax", "error", "policy", "A rules file does not parse."),
    Code("rule-invalid-literal", "error", "policy",
         "A literal is malformed: an impossible date, an unknown currency, a bad duration."),
    Code("rule-unknown-name", "error", "policy",
         "An expression starts with a name that is not part of the decision context."),
    Code("rule-unknown-field", "error", "policy",
         "A field path reads a field the context, contract or schema does not declare."),
    Code("rule-unguarded-field", "error", "policy",
         "A field depends on which connector or schema is involved, and the rule does not say which."),
    Code("rule-unknown-function", "error", "policy", "A call names a function that is not a built-in."),
    Code("rule-arity", "error", "policy", "A built-in function is called with the wrong number of arguments."),
    Code("rule-type-mismatch", "error", "policy", "An operator or function gets a value of the wrong type."),
    Code("rule-currency-mismatch", "error", "policy", "Two amounts in different currencies are combined."),
    Code("rule-nullable", "error", "policy",
         "A value that may be missing is used where a value is required, without a `!= null` guard."),
    Code("rule-unknown-value", "error", "policy",
         "A string is compared with a closed set (connectors, schemas, enum values) it is not part of."),
    Code("rule-never-matches", "error", "policy", "A rule's condition contradicts itself and can never hold."),
    Code("rule-invalid-regex", "error", "policy", "The pattern given to `matches` is not a valid regular expression."),
    Code("rule-duplicate", "error", "policy", "Two rules of the same policy share a name."),
    Code("rule-shadowed", "warning", "policy",
         "A rule can never change a decision: another rule decides at least as strictly whenever it matches."),
    Code("policy-duplicate", "error", "policy", "Two rules files declare the same policy name."),
    Code("policy-redeclared", "error", "policy", "A rules file declares its policy name or default more than once."),
    Code("policy-default-conflict", "warning", "policy",
         "Rules files set different defaults; the strictest one applies."),
    Code("policy-test-invalid", "error", "policy", "A policy test file is malformed."),
    Code("policy-test-input", "error", "policy",
         "A policy test case's input does not match the connector contract, record schema or playbooks."),
    Code("policy-test-failed", "error", "policy", "A policy test case did not get the expected decision."),
)

register(*POLICY_CODES)
