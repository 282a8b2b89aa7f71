"""Peak resident memory of streaming preprocessing plus one backbone epoch, by row count.

    python benchmarks/memory.py [--rows 1000000,10000000]

For each size, `elec data synth` writes the table (not measured), then one
`elec run --set methods=[backbone] --set data.storage=shards --set train.max_epochs=1`
runs in a fresh process: schema fitting, encoding every split into shards, one
training epoch and the validation and test predictions. Its peak resident set size is
the kernel's (``ru_maxrss`` of the finished child); beside it, sampled every 0.2 s
from /proc, the peaks of its anonymous memory (the heap: vocabularies, model,
batches) and of its file-backed pages (the memory-mapped shards a training window
reads, which the kernel may drop at any time), and the vocabulary the schema kept. The
MLP is 64 wide so that the 10M-row epoch takes minutes: memory is about the data path,
which does not depend on the MLP. Writes benchmarks/results/memory.json with the ratio
between the sizes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from elec import SynthConfig, environment, synthesize

RESULTS = Path(__file__).parent / "results"
OVERRIDES = ["methods=[backbone]", "data.storage=shards", "train.max_epochs=1",
             "model.params.hidden=[64]", "train.batch_size=4096"]


def peak_of(command: list[str]) -> tuple[float, float, dict[str, float]]:
    """Peak RSS (GiB) and wall seconds of ``command`` run in a child process, and the
    peaks of its anonymous and file-backed resident memory (GiB, sampled)."""
    start = time.perf_counter()
    probe = ("import resource, subprocess, sys; child = subprocess.Popen(sys.argv[1:]); "
             "print(child.pid, flush=True); code = child.wait(); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")
    parent = subprocess.Popen([sys.executable, "-c", probe, *command], stdout=subprocess.PIPE,
                              text=True)
    pid = int(parent.stdout.readline())
    peaks = {"RssAnon": 0.0, "RssFile": 0.0}

    def sample() -> None:
        while parent.poll() is None:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    name, _, value = line.partition(":")
                    if name in peaks:
                        peaks[name] = max(peaks[name], int(value.split()[0]) / 2**20)
            except (OSError, ValueError):
                return  # the child is gone
            time.sleep(0.2)
    sampler = threading.Thread(target=sample)
    sampler.start()
    printed = parent.stdout.read()
    sampler.join()
    if parent.wait() != 0:
        raise SystemExit(f"{command} failed")
    kib = int(printed.strip().splitlines()[-1])
    return kib / 2**20, time.perf_counter() - start, {
        "anonymous_peak_gib": round(peaks["RssAnon"], 3),
        "file_backed_peak_gib": round(peaks["RssFile"], 3)}


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
        peak, seconds, parts = peak_of(command)
        record = json.loads((out / "results.json").read_text())["methods"]["backbone"]
        schema = json.loads((out / "shards" / "schema.json").read_text())
        vocabulary = sum(len(f.get("vocab") or []) for f in schema["fields"])
        sizes[str(rows)] = {"peak_rss_gib": round(peak, 3), **parts,
                            "vocabulary": vocabulary, "seconds": round(seconds, 1),
                            "test_auc": record["test"]["auc"]}
        print(f"{rows:,} rows: peak RSS {peak:.2f} GiB (anonymous peak "
              f"{parts['anonymous_peak_gib']:.2f}, file-backed peak "
              f"{parts['file_backed_peak_gib']:.2f}), vocabulary {vocabulary:,} values, "
              f"{seconds:.0f} s, test AUC {record['test']['auc']:.4f}", flush=True)
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
