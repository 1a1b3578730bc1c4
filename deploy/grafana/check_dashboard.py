#!/usr/bin/env python3
"""Checks deploy/grafana/wsgate.json (run by deploy/prometheus/ci.sh).

- the file is JSON with unique panel ids and a query on every panel but rows;
- every query parses as PromQL: the queries (Grafana's `$__rate_interval`, `$job` and
  `$instance` substituted) are written as recording rules and fed to `promtool check rules`;
- every wsgate_* / process_* series a query reads is in the live scrape given as the
  second argument or, for series that only exist once something happens (remote key
  sets, the bypass), documented in docs/metrics.md;
- the same for every such name anywhere in the further files given (the alert rules and
  their promtool tests), so a misspelt series cannot hide behind a test that uses the
  same misspelling.

Usage: check_dashboard.py DASHBOARD.json SCRAPE.txt [RULES_OR_TESTS.yaml ...]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
METRIC = re.compile(r"\b((?:wsgate|process)_[a-z_]+)\b")
SUFFIXES = ("_bucket", "_count", "_sum")


def queries(dashboard: dict) -> list[tuple[str, str]]:
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"panel {panel['id']} ({panel['title']})", target["expr"]))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            found.append((f"annotation {annotation['name']}", annotation["expr"]))
    return found


def main() -> int:
    dashboard_path, scrape_path = Path(sys.argv[1]), Path(sys.argv[2])
    dashboard = json.loads(dashboard_path.read_text())
    problems = []

    ids = [panel["id"] for panel in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        problems.append(f"duplicate panel ids: {ids}")
    for panel in dashboard["panels"]:
        if panel["type"] != "row" and not panel.get("targets"):
            problems.append(f"panel {panel['id']} ({panel['title']}) has no query")

    exported = set()
    for line in scrape_path.read_text().splitlines():
        if line.startswith("# TYPE "):
            exported.add(line.split()[2])
    documented = set(METRIC.findall((REPO / "docs/metrics.md").read_text()))

    rules = []
    for where, expr in queries(dashboard):
        for name in set(METRIC.findall(expr)):
            family = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
            if family not in exported and family not in documented:
                problems.append(f"{where}: {name} is neither exported nor documented")
        concrete = (
            expr.replace("$__rate_interval", "5m")
            .replace("$job", ".*")
            .replace("$instance", ".*")
        )
        rules.append({"record": f"dashboard:query_{len(rules)}", "expr": concrete})

    for path in map(Path, sys.argv[3:]):
        for name in sorted(set(METRIC.findall(path.read_text()))):
            family = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
            if family not in exported and family not in documented:
                problems.append(f"{path.name}: {name} is neither exported nor documented")

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, file)
        file.flush()
        checked = subprocess.run(["promtool", "check", "rules", file.name],
                                 capture_output=True, text=True)
        if checked.returncode != 0:
            problems.append(f"promtool check rules on the dashboard's queries:\n"
                            f"{checked.stdout}{checked.stderr}")

    if problems:
        print("deploy/grafana/wsgate.json:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"deploy/grafana/wsgate.json: {len(rules)} queries parse and read known series; "
          f"{len(sys.argv) - 3} more file(s) name only known series")
    return 0


if __name__ == "__main__":
    sys.exit(main())
