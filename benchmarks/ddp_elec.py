"""ELEC end to end under torchrun against one process, with the bundled MiniLM.

    python benchmarks/ddp_elec.py [--rows 500000] [--nproc 2] [--seeds 3]

`elec run` of lm_only, backbone, gain and vanilla on the synthetic table's shards (its
item titles are the text; a 50/10/40 split, so 500,000 rows give 200,000 test rows;
stage 1's adapters in batches of 4,096), for each seed once in one process and once
under torchrun with
``--nproc`` processes (gloo on CPU). Each world size has a vector cache of its own, so
both encode every text; the pooled LM vectors of every shard are compared bit for bit.
Records each method's test AUC, the rows every network trained on per epoch (summed over
the ranks) against the training split, each network's training seconds, and whether
torchrun's gain and vanilla lie within one process's spread over the seeds. Finished
runs are kept in ``--work`` (a rerun skips them). Writes benchmarks/results/ddp_elec.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from ddp import kept_run

from elec import SynthConfig, environment, paired, stats, synthesize

RESULTS = Path(__file__).parent / "results"
METHODS = ["lm_only", "backbone", "gain", "vanilla"]
OVERRIDES = [f"methods=[{','.join(METHODS)}]", "data.storage=shards", "train.batch_size=4096",
             "adapter.batch_size=4096"]
FRACTIONS = (0.5, 0.1, 0.4)


def one_run(data: Path, work: Path, nproc: int, seed: int) -> dict:
    """One ``elec run`` (its vector cache of its world size's), or the record of it that an
    earlier call left in its directory."""
    def figures(results: dict, stderr: str) -> dict:
        methods = results["methods"]
        return {"test_auc": {m: r["test"]["auc"] for m, r in methods.items()},
                "train_seconds": {m: r.get("train_seconds") for m, r in methods.items()},
                "rows_per_epoch": {m: [e["train_rows"] for e in r["history"]]
                                   for m, r in methods.items() if "history" in r},
                "encoding": [line for line in stderr.splitlines() if "LM vectors:" in line]}

    return kept_run(data, work / f"run-{nproc}-seed-{seed}", nproc, seed, OVERRIDES, figures,
                    env={**os.environ, "ELEC_HOME": str(work / f"home-{nproc}")})


def hidden_vectors(work: Path, nproc: int) -> dict[str, np.ndarray]:
    """Every shard's pooled h in the vector cache of ``nproc`` processes."""
    return {p.name: np.load(p) for p in (work / f"home-{nproc}" / "vectors").rglob("rows/*.npy")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--work", default="runs/ddp-elec")
    parser.add_argument("--results", default=str(RESULTS / "ddp_elec.json"))
    args = parser.parse_args()
    work = Path(args.work)
    data = work / f"synth-{args.rows}"
    if not (data / "synth.json").is_file():
        synthesize(SynthConfig(rows=args.rows, fractions=FRACTIONS), data,
                   progress=lambda m: None)
    runs: dict[int, list[dict]] = {1: [], args.nproc: []}
    for seed in range(args.seeds):
        for nproc in runs:
            runs[nproc].append(one_run(data, work, nproc, seed))
            r = runs[nproc][-1]
            print(f"seed {seed}, {nproc} process(es): {r['seconds']:.0f} s; test AUC "
                  + ", ".join(f"{m} {a:.4f}" for m, a in r["test_auc"].items()), flush=True)
    synth = json.loads((data / "synth.json").read_text())
    train_rows = synth["rows"]["train"]
    one, many = hidden_vectors(work, 1), hidden_vectors(work, args.nproc)
    test_auc = {str(n): {m: stats([r["test_auc"][m] for r in rs]) for m in METHODS}
                for n, rs in runs.items()}
    within = {m: min(r["test_auc"][m] for r in runs[1])
              <= test_auc[str(args.nproc)][m]["mean"] <= max(r["test_auc"][m] for r in runs[1])
              for m in METHODS}
    result = {
        "rows": args.rows, "test_rows": synth["rows"]["test"], "train_rows": train_rows,
        "overrides": OVERRIDES, "nproc": args.nproc, "seeds": args.seeds,
        "every_row_once_per_epoch": all(
            n == train_rows for rs in runs.values() for r in rs
            for epochs in r["rows_per_epoch"].values() for n in epochs),
        "shards_encoded": len(one),
        "same_lm_vectors": one.keys() == many.keys() and all(
            np.array_equal(one[k], many[k]) for k in one),
        "same_results_layout": all(a["layout"] == b["layout"]
                                   for a, b in zip(runs[1], runs[args.nproc], strict=True)),
        "test_auc": test_auc,
        "test_auc_difference": {m: paired([r["test_auc"][m] for r in runs[args.nproc]],
                                          [r["test_auc"][m] for r in runs[1]])
                                for m in METHODS},
        "torchrun_mean_within_one_process_range": within,
        "runs": {str(n): [{k: v for k, v in r.items() if k != "layout"} for r in rs]
                 for n, rs in runs.items()},
        "environment": environment()}
    Path(args.results).write_text(json.dumps(result, indent=2))
    print(f"every row once per epoch: {result['every_row_once_per_epoch']}; same LM vectors: "
          f"{result['same_lm_vectors']} ({result['shards_encoded']} shards); within one "
          f"process's range: {within} -> {args.results}")


if __name__ == "__main__":
    main()
