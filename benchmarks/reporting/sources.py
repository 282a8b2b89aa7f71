"""Where result files live, and how a table names one: file, machine, commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RESULTS = ROOT / "benchmarks" / "results"

PROTOCOL_ORDER = ["random", "temporal", "temporal-pool", "cold-item", "cold-item-pool"]

# result files that no longer describe the code, and why (they stay on disk)
SUPERSEDED = {
    "quality_deepfm_h200.json": "the paper's teacher (teacher_mix 1.0), before the backbones' "
                                "Xavier initialisation",
    "quality_dcnv2_h200.json": "the paper's teacher (teacher_mix 1.0), before the backbones' "
                               "Xavier initialisation",
}

# result files still shown whose heading must say what they predate
PREDATES = {"zoo": "measured before the backbones' Xavier initialisation",
            "recipe_search": "measured before the Xavier initialisation and before the pool's "
                             "ids joined the vocabularies"}


def committed(path: Path) -> str:
    """The commit that last stored ``path``: the code it describes is at or before it."""
    done = subprocess.run(["git", "log", "-1", "--format=%h", "--", path.name],
                          cwd=path.parent, capture_output=True, text=True, check=False)
    return done.stdout.strip() or "not committed"


# the commit from which the backbones' CPU dropout draws its masks from 16-bit random
# numbers: AUCs trained on a CPU before it come from the same method with other draws
NEW_DROPOUT_DRAWS = "cf66d6b"

TRAINED = ("quality_", "lm_uses_", "item_dropout_", "zoo_", "fuxictr", "recipe_search",
           "ensemble_control", "variant_", "synth_quality", "ddp")


def before(commit: str, change: str) -> bool:
    """Whether ``commit`` is an ancestor of ``change`` (and not the change itself)."""
    done = subprocess.run(["git", "merge-base", "--is-ancestor", commit, change], cwd=ROOT,
                          capture_output=True, check=False)
    return done.returncode == 0 and not change.startswith(commit)


def source(path: Path, environment: dict) -> str:
    """How a heading names a result: file, machine, commit (and, for trained networks'
    figures, whether they predate the new dropout draws)."""
    commit = committed(path)
    note = ("; trained before the new CPU dropout draws (the same method, other random "
            "draws)" if path.name.startswith(TRAINED) and not environment.get("gpu")
            and commit != "not committed" and before(commit, NEW_DROPOUT_DRAWS) else "")
    return f"`{path.name}`, {machine(environment)}, commit {commit}{note}"


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
