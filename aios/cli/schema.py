"""`aios schema`: the JSON Schema of the playbook formats, for editors and CI."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aios.spec.json_schema import workspace_json_schema


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def schema(output: str | None) -> None:
    """Print the JSON Schema of workspace documents (aios.yaml, schemas, agents, playbooks, ...).

    Point the YAML language server at it with a modeline as the first line of a file:
    `# yaml-language-server: $schema=./schema/aios.schema.json`.
    """
    text = json.dumps(workspace_json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
