"""Is field_lm's gain the LM's? Its twin with every value's LM vector swapped for another
value's (one fixed permutation per seed): the same network, the same vectors, the same
capacity; only their meaning is gone.

    python benchmarks/field_lm_control.py [-c configs/ml100k.yaml] [--protocol random]
        [--seeds 5] [--work runs/field-lm-control] [--set KEY=VALUE ...]

For each seed one run directory trains the backbone, field_lm and the twin
(field_lm_shuffled), each from the seed's generator. Writes
benchmarks/results/field_lm_control_<backbone>_<protocol>_<cpu|gpu>.json: test AUC per
method and the paired differences field_lm - backbone, field_lm_shuffled - backbone and
field_lm - field_lm_shuffled (the part of the gain the LM's meaning accounts for).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from elec import METHODS, Reporter, Run, environment, load_config, paired, stats, write_json

RESULTS = Path(__file__).parent / "results"
SHUFFLED = dataclasses.replace(METHODS["field_lm"], name="field_lm_shuffled",
                               what="field_lm with each value's LM vector another value's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", default="configs/ml100k.yaml")
    parser.add_argument("--protocol", default="random")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--work", default="runs/field-lm-control")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    names = ["backbone", "field_lm", SHUFFLED.name]
    aucs: dict[str, list[float]] = {name: [] for name in names}
    for seed in range(args.seeds):
        cfg = load_config(args.config, [*args.overrides, f"seed={seed}",
                                        f"data.split={args.protocol}",
                                        "methods=[backbone,field_lm]"])
        out = Path(args.work) / f"seed-{seed}"
        with Reporter(out / "log.txt", quiet=True) as reporter:
            run = Run(cfg, out, reporter)
            aucs["backbone"].append(run.method("backbone")["test"]["auc"])
            aucs["field_lm"].append(run.method("field_lm")["test"]["auc"])
            twin = Run(cfg, out, reporter)  # a fresh run object: the twin's own vectors
            twin.lm.permute_values(torch.Generator().manual_seed(seed))
            aucs[SHUFFLED.name].append(twin.method(SHUFFLED)["test"]["auc"])
        print(f"seed {seed}: " + "  ".join(f"{n} {aucs[n][-1]:.4f}" for n in names), flush=True)
    deltas = {f"{a} - {b}": paired(aucs[a], aucs[b])
              for a, b in (("field_lm", "backbone"), (SHUFFLED.name, "backbone"),
                           ("field_lm", SHUFFLED.name))}
    result = {"backbone": cfg.model.name, "protocol": args.protocol,
              "seeds": list(range(args.seeds)),
              "test_auc": {n: stats(v) for n, v in aucs.items()}, "deltas": deltas,
              "config": cfg.to_dict(), "environment": environment()}
    device = "gpu" if result["environment"]["gpu"] else "cpu"
    write_json(RESULTS / f"field_lm_control_{cfg.model.name}_{args.protocol}_{device}.json",
               result)
    for name, delta in deltas.items():
        print(f"{name}: {delta['mean']:+.4f} ({delta['positive']}/{delta['seeds']})")


if __name__ == "__main__":
    main()
