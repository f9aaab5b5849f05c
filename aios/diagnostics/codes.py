"""Registry of stable diagnostic codes (documented in docs/diagnostics.md, usable in suppressions).

A code never changes meaning once released. `severity` is the default; a stage may lower it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Code", "CODES"]


@dataclass(frozen=True, slots=True)
class Code:
    name: str
    severity: str  # "error" | "warning" | "note"
    stage: str
    summary: str


_ALL: tuple[Code, ...] = (
    # --- load: reading files and YAML -------------------------------------------------------
    Code("yaml-syntax", "error", "load", "The file is not valid YAML."),
    Code("yaml-duplicate-key", "error", "load", "A mapping has the same key twice."),
    Code("yaml-tab", "error", "load", "A tab character is used for indentation."),
    Code("yaml-indent", "error", "load", "Indentation does not line up with the enclosing block."),
    Code("yaml-too-large", "error", "load", "A YAML file is larger than the limit (2 MiB)."),
    Code("yaml-too-deep", "error", "load", "YAML collections are nested deeper than the limit (64 levels)."),
    Code("yaml-alias-limit", "error", "load",
         "Aliases expand to more nodes than the limit (10 000 per file), or an alias refers to itself."),
    Code("file-unreadable", "error", "load", "A workspace file cannot be read or is not UTF-8."),
    Code("workspace-missing", "error", "load", "No aios.yaml was found at the workspace root."),
    # --- spec: document shapes ---------------------------------------------------------------
    Code("missing-kind", "error", "spec", "A document has no `kind` key."),
    Code("unknown-kind", "error", "spec", "A document's `kind` is not one aios knows."),
    Code("unknown-field", "error", "spec", "A key is not allowed in this document."),
    Code("missing-field", "error", "spec", "A required key is missing."),
    Code("invalid-value", "error", "spec", "A value has the wrong type or is out of range."),
    Code("invalid-type", "error", "spec", "A schema field type expression cannot be parsed."),
    Code("invalid-name", "error", "spec", "A name or id has characters that are not allowed."),
    Code("step-kind", "error", "spec", "A step declares no kind, or more than one."),
    Code("empty-document", "warning", "spec", "A YAML document is empty."),
    # --- check: cross references and semantics ----------------------------------------------
    Code("duplicate-name", "error", "check", "Two documents of the same kind share a name."),
    Code("duplicate-step", "error", "check", "Two steps of a playbook share an id."),
    Code("unknown-schema", "error", "check", "A referenced schema is not declared."),
    Code("unknown-agent", "error", "check", "A referenced agent is not declared."),
    Code("unknown-step", "error", "check", "A referenced step id is not in the playbook."),
    Code("unknown-connector", "error", "check", "A referenced connector has no contract."),
    Code("unknown-prompt", "error", "check", "A prompt template file does not exist."),
    Code("unknown-model-route", "error", "check", "A model route is not declared in aios.yaml."),
    Code("unknown-flag", "error", "check", "A referenced flag is not declared."),
    Code("unknown-secret", "error", "check", "A secret is used but not declared in aios.yaml."),
    Code("unknown-notify-event", "error", "check", "A notification channel names an event aios does not notify."),
    Code("unknown-channel-kind", "error", "check", "A notification channel's kind is not email or webhook."),
    Code("needs-cycle", "error", "check", "The `needs` graph of a playbook has a cycle."),
    Code("unreachable-step", "warning", "check", "A step can never run."),
    Code("missing-idempotency-key", "error", "check",
         "A side-effecting connector step has no idempotency key."),
    Code("idempotency-key-unstable", "warning", "check",
         "An idempotency key reads a value that changes on every run (run id, arrival time, random)."),
    Code("record-write-mismatch", "error", "check",
         "A step writes a record whose schema does not match the step's output."),
    Code("template-syntax", "error", "check", "A template does not parse."),
    Code("template-unknown-variable", "error", "check", "A template uses a name that does not exist there."),
    Code("template-unknown-field", "error", "check",
         "A template reads a field that the schema does not declare."),
    Code("template-step-not-upstream", "error", "check",
         "A template reads a step's output but the step does not (transitively) need it."),
    Code("template-unsafe", "error", "check", "A template reaches for attributes the sandbox forbids."),
    Code("flag-share", "error", "check", "A flag's variant shares do not add up to 100."),
    Code("schema-default", "error", "check", "A field default does not match the field's type."),
    Code("branch-target", "error", "check", "A branch routes to a step that does not need it."),
    Code("secret-literal", "warning", "check", "A value looks like a secret written inline."),
    Code("unused-document", "warning", "check", "A schema, agent or connector is declared but never used."),
    Code("invalid-trigger", "error", "check", "A trigger is malformed (bad schedule expression, etc.)."),
    # --- suppressions -------------------------------------------------------------------------
    Code("suppression-reason", "error", "check", "An inline suppression has no reason."),
    Code("suppression-unknown-code", "error", "check", "An inline suppression names an unknown code."),
    Code("suppression-unused", "warning", "check", "An inline suppression matched no diagnostic."),
)

CODES: dict[str, Code] = {c.name: c for c in _ALL}


def register(*codes: Code) -> None:
    """Let a later stage (the policy compiler, connectors) add its codes to the same registry."""
    for code in codes:
        existing = CODES.get(code.name)
        if existing is not None and existing != code:
            raise ValueError(f"diagnostic code {code.name!r} registered twice with different meanings")
        CODES[code.name] = code

register(
    Code("template-unknown-filter", "error", "check", "A template uses a filter that does not exist."),
    Code("template-record-not-written", "error", "check",
         "A template reads `records.<Schema>` but no step before it writes that schema."),
    Code("connector-input", "error", "check", "A connector step's input does not match the connector contract."),
    Code("webhook-secret-missing", "warning", "check",
         "A playbook is triggered by a webhook source whose signing secret is not declared in aios.yaml."),
)
