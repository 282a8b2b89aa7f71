"""torchrun against one process: the same synthetic table, the same config.

    python benchmarks/ddp.py [--rows 1000000] [--nproc 2] [--seeds 3]

`elec run --set methods=[backbone]` on shards, for each seed once in one process and
once under torchrun with ``--nproc`` processes (gloo on CPU). The ranks take their
shares of one process's batches, so a seed's two runs train on the same steps; they
differ by the dropout masks (each rank draws its own) and float sums. Records the rows
trained on in every epoch (summed over the ranks) beside the training split's size, and
compares the fitted schema and the layout of results.json. On a machine with fewer cores
than processes this is a correctness check, not a speed-up. Finished runs are kept in
``--work`` (a rerun skips them). Writes benchmarks/results/ddp.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from elec import SynthConfig, environment, stats, synthesize

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


def kept_run(data: Path, out: Path, nproc: int, seed: int, overrides: list[str],
             record: Callable[[dict, str], dict], env: dict | None = None) -> dict:
    """``elec run`` of ``data``'s config into ``out`` on ``nproc`` processes, summarised by
    ``record`` (results.json, stderr -> figures) with the processes, seed and seconds; or
    the summary an earlier call left in ``out`` (a rerun skips finished runs)."""
    kept = out / "ddp_run.json"
    if kept.is_file():
        return json.loads(kept.read_text())
    subprocess.run(["rm", "-rf", str(out)], check=True)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "elec.cli", "run", "-c", str(data / "elec.yaml"), "--out",
         str(out), "--nproc", str(nproc),
         *[a for o in [*overrides, f"seed={seed}"] for a in ("--set", o)]],
        env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{nproc} process(es), seed {seed} failed:\n{done.stderr[-3000:]}")
    results = json.loads((out / "results.json").read_text())
    run = {"processes": nproc, "seed": seed, "seconds": round(time.perf_counter() - start, 1),
           "layout": layout(results), **record(results, done.stderr)}
    kept.write_text(json.dumps(run))
    return run


def one_run(data: Path, out: Path, nproc: int, seed: int, overrides: list[str]) -> dict:
    def backbone(results: dict, _: str) -> dict:
        record = results["methods"]["backbone"]
        return {"valid_auc": record["valid"]["auc"], "test_auc": record["test"]["auc"],
                "best_epoch": record["best_epoch"],
                "rows_per_epoch": [e["train_rows"] for e in record["history"]],
                "schema": (out / "shards" / "schema.json").read_text()}

    return kept_run(data, out, nproc, seed, overrides, backbone)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--work", default="runs/ddp")
    parser.add_argument("--results", default=str(RESULTS / "ddp.json"))
    args = parser.parse_args()
    work = Path(args.work)
    data = work / f"synth-{args.rows}"
    if not (data / "synth.json").is_file():
        synthesize(SynthConfig(rows=args.rows), data, progress=lambda m: None)
    runs: dict[int, list[dict]] = {1: [], args.nproc: []}
    for seed in range(args.seeds):
        for nproc in (1, args.nproc):
            runs[nproc].append(one_run(data, work / f"run-{nproc}-seed-{seed}", nproc, seed,
                                       OVERRIDES + args.overrides))
            r = runs[nproc][-1]
            print(f"seed {seed}, {nproc} process(es): valid AUC {r['valid_auc']:.4f}, test AUC "
                  f"{r['test_auc']:.4f}, {r['seconds']:.0f} s", flush=True)
    one, many = runs[1], runs[args.nproc]
    valid = stats([m["valid_auc"] - o["valid_auc"] for o, m in zip(one, many, strict=True)])
    train_rows = sum(json.loads((work / "run-1-seed-0" / "shards" / "shards.json")
                                .read_text())["splits"]["train"])
    every_row_once = all(n == train_rows for rs in runs.values() for r in rs
                         for n in r["rows_per_epoch"])
    result = {
        "rows": args.rows, "overrides": OVERRIDES + args.overrides, "seeds": args.seeds,
        "train_rows": train_rows, "every_row_once_per_epoch": every_row_once,
        "runs": {str(k): [{n: v for n, v in r.items() if n not in ("layout", "schema")}
                          for r in rs] for k, rs in runs.items()},
        "valid_auc": {str(k): stats([r["valid_auc"] for r in rs]) for k, rs in runs.items()},
        "test_auc": {str(k): stats([r["test_auc"] for r in rs]) for k, rs in runs.items()},
        "valid_auc_difference": valid,
        "same_schema": all(o["schema"] == m["schema"] for o, m in zip(one, many, strict=True)),
        "same_results_layout": all(o["layout"] == m["layout"]
                                   for o, m in zip(one, many, strict=True)),
        "environment": environment()}
    Path(args.results).write_text(json.dumps(result, indent=2))
    print(f"every training row once per epoch: {every_row_once}; "
          f"mean valid AUC difference {valid['mean']:+.4f}; same schema "
          f"{result['same_schema']}; same results.json layout {result['same_results_layout']}")


if __name__ == "__main__":
    main()
