"""ELEC end to end under torchrun against one process, with the bundled MiniLM.

    python benchmarks/ddp_elec.py [--rows 20000] [--nproc 2]

`elec run` of lm_only, backbone, self_distilled, gain and vanilla on the synthetic
table's shards (its item titles are the text), once in one process and once under
torchrun with ``--nproc`` processes (gloo on CPU), each with a vector cache of its own
so that both encode every text. Compares the pooled LM vectors of every shard (bit for
bit: the ranks encoded their shares), the layout of results.json, and lists each
method's test AUC (one seed: a check that every stage ran, not a comparison of
quality). Writes benchmarks/results/ddp_elec.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from ddp import layout

from elec.data.synth import SynthConfig, synthesize
from elec.environment import environment

RESULTS = Path(__file__).parent / "results"
METHODS = ["lm_only", "backbone", "self_distilled", "gain", "vanilla"]
OVERRIDES = [f"methods=[{','.join(METHODS)}]", "data.storage=shards", "train.batch_size=1024"]


def one_run(data: Path, work: Path, nproc: int) -> dict:
    out, home = work / f"run-{nproc}", work / f"home-{nproc}"
    subprocess.run(["rm", "-rf", str(out), str(home)], check=True)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "elec.cli", "run", "-c", str(data / "elec.yaml"), "--out",
         str(out), "--nproc", str(nproc), *[a for o in OVERRIDES for a in ("--set", o)]],
        env={**os.environ, "ELEC_HOME": str(home)}, capture_output=True, text=True,
        check=False)
    if done.returncode:
        raise SystemExit(f"{nproc} process(es) failed:\n{done.stderr[-3000:]}")
    results = json.loads((out / "results.json").read_text())
    hidden = {p.name: np.load(p) for p in (home / "vectors").rglob("rows/*.npy")}
    return {"seconds": round(time.perf_counter() - start, 1), "layout": layout(results),
            "test_auc": {m: r["test"]["auc"] for m, r in results["methods"].items()},
            "hidden": hidden,
            "encoding": [line for line in done.stderr.splitlines() if "LM vectors:" in line]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--work", default="runs/ddp-elec")
    parser.add_argument("--results", default=str(RESULTS / "ddp_elec.json"))
    args = parser.parse_args()
    work = Path(args.work)
    data = work / f"synth-{args.rows}"
    if not (data / "synth.json").is_file():
        synthesize(SynthConfig(rows=args.rows, shard_rows=args.rows // 10), data,
                   progress=lambda m: None)
    runs = {n: one_run(data, work, n) for n in (1, args.nproc)}
    one, many = runs[1], runs[args.nproc]
    for n, r in runs.items():
        print(f"{n} process(es): {r['seconds']:.0f} s; {r['encoding']}; test AUC "
              + ", ".join(f"{m} {a:.4f}" for m, a in r["test_auc"].items()), flush=True)
    result = {
        "rows": args.rows, "overrides": OVERRIDES, "nproc": args.nproc,
        "shards_encoded": len(one["hidden"]),
        "same_lm_vectors": (one["hidden"].keys() == many["hidden"].keys() and all(
            np.array_equal(one["hidden"][k], many["hidden"][k]) for k in one["hidden"])),
        "same_results_layout": one["layout"] == many["layout"],
        "runs": {str(n): {k: v for k, v in r.items() if k not in ("layout", "hidden")}
                 for n, r in runs.items()},
        "environment": environment()}
    Path(args.results).write_text(json.dumps(result, indent=2))
    print(f"same LM vectors: {result['same_lm_vectors']} ({result['shards_encoded']} shards); "
          f"same results.json layout: {result['same_results_layout']} -> {args.results}")


if __name__ == "__main__":
    main()
