"""JSON Schema of the workspace file formats, generated from the document models themselves, so
editors (the YAML language server) and the compiler agree on what a document may contain."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from aios import __version__
from aios.spec.build import KIND_MODELS

__all__ = ["workspace_json_schema", "SCHEMA_ID"]

SCHEMA_ID = "https://aios.dev/schema/aios.schema.json"


def workspace_json_schema() -> dict[str, Any]:
    models = list(KIND_MODELS.values())
    refs, defs = models_json_schema([(m, "validation") for m in models], ref_template="#/$defs/{model}")
    branches = [refs[(m, "validation")] for m in models]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"aios workspace documents (aios {__version__})",
        "description": "One YAML document: the workspace file (aios.yaml) or a schema, agent, playbook, "
                       "connector or flag document.",
        "oneOf": branches,
        "$defs": defs.get("$defs", {}),
    }
