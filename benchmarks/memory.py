"""Peak resident memory of streaming preprocessing plus one backbone epoch, by row count.

    python benchmarks/memory.py [--rows 1000000,10000000]

For each size, `elec data synth` writes the table (not measured), then one
`elec run --set methods=[backbone] --set data.storage=shards --set train.max_epochs=1`
runs in a fresh process: schema fitting, encoding every split into shards, one
training epoch and the validation and test predictions. Its peak resident set size is
the kernel's (``ru_maxrss`` of the finished child). The MLP is 64 wide so that the
10M-row epoch takes minutes: memory is about the data path, which does not depend on
the MLP. Writes benchmarks/results/memory.json with the ratio between the sizes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from elec import SynthConfig, environment, synthesize

RESULTS = Path(__file__).parent / "results"
OVERRIDES = ["methods=[backbone]", "data.storage=shards", "train.max_epochs=1",
             "model.params.hidden=[64]", "train.batch_size=4096"]


def peak_of(command: list[str]) -> tuple[float, float]:
    """Peak RSS (GiB) and wall seconds of ``command`` run in a child process."""
    start = time.perf_counter()
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", probe, *command], check=True,
                          capture_output=True, text=True)
    kib = int(done.stdout.strip().splitlines()[-1])
    return kib / 2**20, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,10000000")
    parser.add_argument("--work", default="runs/memory")
    parser.add_argument("--results", default=str(RESULTS / "memory.json"))
    args = parser.parse_args()
    work = Path(args.work)
    sizes = {}
    for rows in map(int, args.rows.split(",")):
        data = work / f"synth-{rows}"
        if not (data / "synth.json").is_file():
            synthesize(SynthConfig(rows=rows), data, progress=lambda m: None)
        out = work / f"run-{rows}"
        command = [sys.executable, "-m", "elec.cli", "run", "-c", str(data / "elec.yaml"),
                   "--out", str(out)] + [a for o in OVERRIDES for a in ("--set", o)]
        subprocess.run(["rm", "-rf", str(out)], check=True)
        peak, seconds = peak_of(command)
        record = json.loads((out / "results.json").read_text())["methods"]["backbone"]
        sizes[str(rows)] = {"peak_rss_gib": round(peak, 3), "seconds": round(seconds, 1),
                            "test_auc": record["test"]["auc"]}
        print(f"{rows:,} rows: peak RSS {peak:.2f} GiB, {seconds:.0f} s, "
              f"test AUC {record['test']['auc']:.4f}", flush=True)
    peaks = [v["peak_rss_gib"] for v in sizes.values()]
    result = {"what": "peak RSS of `elec run` (streaming preprocessing + one backbone epoch "
                      "+ valid/test predictions) in a fresh process",
              "overrides": OVERRIDES, "sizes": sizes,
              "growth_first_to_last": peaks[-1] / peaks[0] - 1,
              "environment": environment()}
    Path(args.results).write_text(json.dumps(result, indent=2))
    print(f"growth {result['growth_first_to_last']:+.1%} -> {args.results}")


if __name__ == "__main__":
    main()
