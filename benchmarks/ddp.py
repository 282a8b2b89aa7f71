"""torchrun against one process: the same synthetic table, the same config.

    python benchmarks/ddp.py [--rows 1000000] [--nproc 2]

`elec run --set methods=[backbone]` on shards, once in one process and once under
torchrun with ``--nproc`` processes (gloo on CPU). Compares the validation and test
AUC of the backbone, the fitted schema, and the layout of results.json. On a machine
with fewer cores than processes this is a correctness check, not a speed-up. Writes
benchmarks/results/ddp.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from elec.data.synth import SynthConfig, synthesize
from elec.environment import environment

RESULTS = Path(__file__).parent / "results"
OVERRIDES = ["methods=[backbone]", "data.storage=shards", "train.batch_size=4096",
             "model.params.hidden=[400,400,400]"]


def layout(tree: object) -> object:
    """The keys of a JSON tree, without its values."""
    if isinstance(tree, dict):
        return {k: layout(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [layout(tree[0])] if tree else []
    return type(tree).__name__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--work", default="runs/ddp")
    parser.add_argument("--results", default=str(RESULTS / "ddp.json"))
    args = parser.parse_args()
    work = Path(args.work)
    data = work / f"synth-{args.rows}"
    if not (data / "synth.json").is_file():
        synthesize(SynthConfig(rows=args.rows), data, progress=lambda m: None)
    runs = {}
    for nproc in (1, args.nproc):
        out = work / f"run-{nproc}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "elec.cli", "run", "-c", str(data / "elec.yaml"),
                        "--out", str(out), "--nproc", str(nproc),
                        *[a for o in OVERRIDES for a in ("--set", o)]], check=True)
        results = json.loads((out / "results.json").read_text())
        record = results["methods"]["backbone"]
        runs[nproc] = {"processes": nproc, "seconds": round(time.perf_counter() - start, 1),
                       "valid_auc": record["valid"]["auc"], "test_auc": record["test"]["auc"],
                       "best_epoch": record["best_epoch"], "layout": layout(results),
                       "schema": (out / "shards" / "schema.json").read_text()}
        print(f"{nproc} process(es): valid AUC {record['valid']['auc']:.4f}, test AUC "
              f"{record['test']['auc']:.4f}, {runs[nproc]['seconds']:.0f} s", flush=True)
    one, many = runs[1], runs[args.nproc]
    result = {
        "rows": args.rows, "overrides": OVERRIDES,
        "runs": {str(k): {n: v for n, v in r.items() if n not in ("layout", "schema")}
                 for k, r in runs.items()},
        "valid_auc_difference": many["valid_auc"] - one["valid_auc"],
        "test_auc_difference": many["test_auc"] - one["test_auc"],
        "same_schema": one["schema"] == many["schema"],
        "same_results_layout": one["layout"] == many["layout"],
        "environment": environment()}
    Path(args.results).write_text(json.dumps(result, indent=2))
    print(f"valid AUC difference {result['valid_auc_difference']:+.4f}; same schema "
          f"{result['same_schema']}; same results.json layout {result['same_results_layout']}")


if __name__ == "__main__":
    main()
