"""What train.precision: bf16 costs in AUC and gains in time, paired by seed.

    python benchmarks/precision.py [--config configs/ml100k.yaml] [--seeds 5] [--set K=V]

For each seed, `elec run --set methods=[backbone]` twice, in float32 and with
``train.precision: bf16`` (the training step's matmuls in bfloat16 autocast; weights,
loss and predictions float32); test AUC and training seconds of each, and the paired
differences bf16 - fp32. Writes benchmarks/results/precision_<backbone>.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from elec import Reporter, environment, load_config, paired, run, stats

RESULTS = Path(__file__).parent / "results"
PRECISIONS = ("fp32", "bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ml100k.yaml")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--work", default="runs/precision")
    parser.add_argument("--results")
    args = parser.parse_args()
    per_seed: dict[str, list[dict]] = {p: [] for p in PRECISIONS}
    for seed in range(args.seeds):
        for precision in PRECISIONS:
            cfg = load_config(args.config, ["methods=[backbone]", f"seed={seed}",
                                            f"train.precision={precision}", *args.overrides])
            out = Path(args.work) / cfg.model.name / f"{precision}-seed-{seed}"
            record = run(cfg, out, Reporter(out / "log.txt", quiet=True))["methods"]["backbone"]
            per_seed[precision].append({"seed": seed, "test_auc": record["test"]["auc"],
                                        "train_seconds": record["train_seconds"],
                                        "best_epoch": record["best_epoch"]})
            print(f"seed {seed} {precision}: test AUC {record['test']['auc']:.4f}, "
                  f"{record['train_seconds']:.0f} s", flush=True)
    auc = {p: [r["test_auc"] for r in rs] for p, rs in per_seed.items()}
    seconds = {p: [r["train_seconds"] for r in rs] for p, rs in per_seed.items()}
    result = {"config": args.config, "overrides": args.overrides, "backbone": cfg.model.name,
              "runs": per_seed,
              "test_auc": {p: stats(v) for p, v in auc.items()},
              "train_seconds": {p: stats(v) for p, v in seconds.items()},
              "bf16_minus_fp32_test_auc": paired(auc["bf16"], auc["fp32"]),
              "environment": environment()}
    path = Path(args.results or RESULTS / f"precision_{cfg.model.name}.json")
    path.write_text(json.dumps(result, indent=2))
    d = result["bf16_minus_fp32_test_auc"]
    print(f"test AUC bf16 - fp32: {d['mean']:+.4f} ± {d['std']:.4f} ({d['positive']}/"
          f"{d['seeds']} seeds higher) -> {path}")


if __name__ == "__main__":
    main()
