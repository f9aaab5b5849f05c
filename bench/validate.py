"""Cold-process wall time of `aios validate`, side by side with check-jsonschema on the same files.

check-jsonschema (the peer) only validates each document against the exported JSON Schema; aios
validate does that and every cross-reference, graph and template check. Both run as fresh processes,
alternating, several times; medians are reported.

    python bench/validate.py [--playbooks 500] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

SCHEMA = """kind: schema
name: Lead{n}
fields:
  name: str
  email: email
  budget_eur: decimal
  topics: list[str]
  stage: {{type: "enum[new, qualified, won, lost]", default: new}}
"""
AGENT = """kind: agent
name: qualifier{n}
role: Qualify the lead and fill in the record.
prompt: prompts/qualify.j2
output: Lead{n}
"""
PLAYBOOK = """# yaml-language-server: $schema=../schema/aios.schema.json
kind: playbook
name: pipeline-{n}
description: Generated playbook {n} for the validate benchmark.
trigger: {{event: lead.received.{n}}}
steps:
  - id: qualify
    agent: qualifier{a}
    input: "{{{{ event.payload }}}}"
    writes: Lead{a}
  - id: research
    needs: [qualify]
    retrieve:
      query: "{{{{ steps.qualify.output.name }}}} {{{{ steps.qualify.output.topics | join(' ') }}}}"
      top_k: 5
  - id: big
    needs: [research]
    branch:
      when: "steps.qualify.output.budget_eur | float > 5000"
      then: [approve]
  - id: approve
    gate: {{message: "Budget {{{{ steps.qualify.output.budget_eur }}}} for {{{{ steps.qualify.output.name }}}}?"}}
  - id: notify
    needs: [research, approve]
    connector: email.send
    input:
      to: "{{{{ steps.qualify.output.email }}}}"
      subject: "Hello {{{{ steps.qualify.output.name }}}}"
      body: "We read about {{{{ steps.qualify.output.topics | join(', ') }}}}."
    idempotency_key: "notify-{{{{ records.Lead{a}.id }}}}"
    on_failure: {{retry: {{max: 3}}}}
"""


def make_workspace(dest: Path, playbooks: int) -> list[Path]:
    """One document per file, so the peer (which reads one document per file) sees all of them."""
    (dest / "playbooks").mkdir(parents=True)
    (dest / "prompts").mkdir()
    (dest / "schema").mkdir()
    (dest / "aios.yaml").write_text("name: bench\nmodels:\n  default: {model: offline}\n")
    (dest / "prompts" / "qualify.j2").write_text("{{ agent.role }}\n{{ input }}\n{{ output_schema }}\n")
    shutil.copy(ROOT / "schema" / "aios.schema.json", dest / "schema" / "aios.schema.json")
    families = max(1, playbooks // 10)
    for n in range(families):
        (dest / "playbooks" / f"schema-{n:04d}.yaml").write_text(SCHEMA.format(n=n))
        (dest / "playbooks" / f"agent-{n:04d}.yaml").write_text(AGENT.format(n=n))
    for n in range(playbooks):
        (dest / "playbooks" / f"pipeline-{n:04d}.yaml").write_text(PLAYBOOK.format(n=n, a=n % families))
    return [dest / "aios.yaml", *sorted((dest / "playbooks").glob("*.yaml"))]


def split_example(dest: Path) -> list[Path]:
    """The example workspace's documents, one per file, for the peer."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    files = [ROOT / "aios.yaml", *sorted((ROOT / "playbooks").glob("*.yaml")),
             *sorted((ROOT / "connectors").glob("*.yaml"))]
    out = []
    dest.mkdir(parents=True)
    for f in files:
        for i, doc in enumerate(yaml.load_all(f.read_text())):
            target = dest / f"{f.stem}-{i}.json"
            target.write_text(json.dumps(doc, default=str))
            out.append(target)
    return out


def timed(cmd: list[str], expect_ok: bool = True) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if expect_ok and proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd[:4])} …\n{proc.stdout[-2000:]}"
                         f"{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--playbooks", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    peer = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    if peer is None:
        raise SystemExit("check-jsonschema is not installed: pip install -e '.[bench]'")
    aios = [sys.executable, "-m", "aios", "validate"]
    schema = str(ROOT / "schema" / "aios.schema.json")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big"
        files = make_workspace(big, args.playbooks)
        example_docs = split_example(Path(tmp) / "example")
        timed(aios + [str(big)])  # warm the page cache and .pyc files once
        timed([peer, "--schemafile", schema, *map(str, files)])
        results: dict[str, list[float]] = {"example": [], "example_peer": [], "aios": [], "peer": []}
        for _ in range(args.repeat):
            results["example"].append(timed(aios + [str(ROOT)]))
            results["example_peer"].append(timed([peer, "--schemafile", schema, *map(str, example_docs)]))
            results["aios"].append(timed(aios + [str(big)]))
            results["peer"].append(timed([peer, "--schemafile", schema, *map(str, files)]))
    med = {k: statistics.median(v) for k, v in results.items()}
    report = {
        "example_s": round(med["example"], 4),
        "example_peer_s": round(med["example_peer"], 4),
        "aios_s": round(med["aios"], 4),
        "peer_s": round(med["peer"], 4),
        "ratio": round(med["aios"] / med["peer"], 3),
        "example_ratio": round(med["example"] / med["example_peer"], 3),
        "playbooks": args.playbooks,
        "documents": len(files),
        "repeat": args.repeat,
        "peer": "check-jsonschema (schema validation only)",
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"example workspace:  aios validate {report['example_s']:.3f} s   "
              f"check-jsonschema {report['example_peer_s']:.3f} s")
        print(f"{args.playbooks} playbooks ({len(files)} files): aios validate {report['aios_s']:.3f} s   "
              f"check-jsonschema {report['peer_s']:.3f} s   ratio {report['ratio']:.2f}")


if __name__ == "__main__":
    main()
