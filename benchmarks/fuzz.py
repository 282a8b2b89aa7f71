"""The HTTP service against a schema-driven fuzzer: schemathesis generates requests from
the service's own OpenAPI schema (valid ones, and ones the schema forbids) and checks
every answer (no 5xx, status codes and bodies as documented, invalid data refused, valid
data accepted).

    pip install schemathesis==4.32.5        # in any environment: it talks HTTP only
    python benchmarks/fuzz.py --bundle BUNDLE [--st PATH_TO_st] [--examples 1000]

Starts `elec serve BUNDLE`, runs `st run .../openapi.json --checks all`, and writes
benchmarks/results/fuzz.json: the test cases generated, every check's passes and
failures, and each distinct failure's title and first lines.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from serving import served

from elec import environment, write_json

RESULTS = Path(__file__).parent / "results"


def reason(interaction: dict | None) -> str:
    """A refused request's answer, its numbers and quoted names blanked (one reason for
    every instance of it)."""
    content = ((interaction or {}).get("response") or {}).get("content") or {}
    try:
        detail = json.loads(base64.b64decode(content.get("$base64", "")))["detail"]
    except (ValueError, KeyError, TypeError):
        return "?"
    text = detail if isinstance(detail, str) else str(detail[0].get("msg", ""))
    return re.sub(r"'[^']*'|\d[\d,.]*", "_", text)[:120]


def summarise(events: Path) -> dict:
    """Cases, checks and distinct failures from schemathesis' NDJSON event stream."""
    cases, checks, failures, reasons = 0, Counter(), {}, Counter()
    for line in events.read_text().splitlines():
        event = json.loads(line)
        recorder = (event.get("ScenarioFinished") or {}).get("recorder") or {}
        cases += len(recorder.get("cases", {}))
        for case, results in (recorder.get("checks") or {}).items():
            for check in results:
                checks[f"{check['name']}: {check['status']}"] += 1
                info = (check.get("failure_info") or {}).get("failure") or {}
                if check["status"] != "success":
                    reasons[f"{check['name']}: "
                            f"{reason(recorder['interactions'].get(case))}"] += 1
                    key = (check["name"], info.get("title", ""))
                    failures.setdefault(key, {"check": check["name"],
                                              "title": info.get("title", ""),
                                              "message": info.get("message", "")[:400],
                                              "count": 0})["count"] += 1
    return {"test_cases": cases, "checks": dict(sorted(checks.items())),
            "failures": list(failures.values()), "answers_to_failures":
                dict(reasons.most_common(20))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--st", default="st", help="the schemathesis command")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=240, help="time budget of the run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "fuzz.json"))
    args = parser.parse_args()
    with served(args.bundle, 4096) as (base, _), tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.ndjson"
        done = subprocess.run([args.st, "run", f"{base}/openapi.json", "--checks", "all",
                               "-n", str(args.examples), "--max-time", str(args.seconds),
                               "--seed", str(args.seed), "--workers", "1", "--report",
                               "ndjson", "--report-ndjson-path", str(events)],
                              capture_output=True, text=True, check=False)
        result = summarise(events)
    version = subprocess.run([args.st, "--version"], capture_output=True, text=True).stdout
    write_json(Path(args.out), {
        **result, "exit_code": done.returncode, "schemathesis": version.strip(),
        "command": f"python benchmarks/fuzz.py --bundle BUNDLE --examples {args.examples} "
                   f"--seconds {args.seconds} --seed {args.seed}",
        "bundle": args.bundle, "environment": {**environment(), "cpu_count": os.cpu_count()}})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
