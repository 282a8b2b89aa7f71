"""Where result files live, and how a table names one: file, machine, commit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RESULTS = ROOT / "benchmarks" / "results"

PROTOCOL_ORDER = ["random", "temporal", "temporal-pool", "cold-item", "cold-item-pool"]

# what each kept result file predates: recorded once, when the code changed, as data
PROVENANCE = json.loads((RESULTS / "provenance.json").read_text())
PREDATES: dict[str, str] = PROVENANCE["predates"]  # a shown table's heading says it
OTHER_DRAWS = PROVENANCE["other_dropout_draws"]


def committed(path: Path) -> str:
    """The commit that last stored ``path``: the code it describes is at or before it."""
    done = subprocess.run(["git", "log", "-1", "--format=%h", "--", path.name],
                          cwd=path.parent, capture_output=True, text=True, check=False)
    return done.stdout.strip() or "not committed"


def source(path: Path, environment: dict) -> str:
    """How a heading names a result: file, machine, commit (and, for trained networks'
    figures, whether they predate the new dropout draws)."""
    note = ("; trained before the new CPU dropout draws (the same method, other random "
            "draws)" if path.name in OTHER_DRAWS["files"] else "")
    return f"`{path.name}`, {machine(environment)}, commit {committed(path)}{note}"


def machine(environment: dict) -> str:
    if environment.get("gpu"):
        return f"{environment['gpu']}, torch {environment['torch']}"
    cores = environment.get("cpu_count") or environment.get("cores")
    return f"{environment['cpu']} ({cores} cores), CPU only, torch {environment['torch']}"


def protocol_key(protocol: str) -> tuple[int, str]:
    """Known protocols in PROTOCOL_ORDER, any other after them by name."""
    known = protocol in PROTOCOL_ORDER
    return (PROTOCOL_ORDER.index(protocol) if known else len(PROTOCOL_ORDER), protocol)


def holds(delta: dict) -> bool:
    return delta["mean"] > 0 and delta["positive"] >= 0.8 * delta["seeds"]
