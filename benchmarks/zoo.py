"""Every backbone x {backbone, self_distilled, gain, vanilla} on MovieLens-100K, 5 seeds.

    python benchmarks/zoo.py [--config configs/ml100k.yaml] [--seeds 5] [--jobs 1]
        [--backbones deepfm,dcnv2] [--set key=value ...] [--out runs/zoo]

Writes benchmarks/results/zoo.json (mean ± std per method, paired deltas) and
benchmarks/results/zoo.md. Each backbone runs with its own default
hyper-parameters (`elec models`) and the config's embedding size; stage 1 (the LM
adapter) is shared by all backbones of a seed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from elec import BACKBONES, environment, load_config, quality, zoo_table

RESULTS = Path(__file__).parent / "results"
METHODS = ["lm_only", "backbone", "self_distilled", "gain", "vanilla"]


def table(results: dict) -> str:
    return zoo_table({name: summary["protocols"]["random"]
                      for name, summary in results["backbones"].items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ml100k.yaml")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--out", default="runs/zoo")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--name", default="zoo", help="file name of the JSON / Markdown")
    parser.add_argument("--markdown", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--warm", action=argparse.BooleanOptionalAction, default=True,
                        help="run the first run alone to fill the LM vector cache")
    args = parser.parse_args()

    base = load_config(args.config, args.overrides)
    results = {"seeds": list(range(args.seeds)), "backbones": {}, "environment": environment(),
               "config": base.to_dict()}
    output = Path(args.results)
    output.mkdir(parents=True, exist_ok=True)
    for name in args.backbones.split(","):
        cfg = base.model_copy(update={"model": base.model.model_copy(
            update={"name": name, "params": {}})})
        summary = quality(cfg, results["seeds"], ["random"], Path(args.out), METHODS,
                          args.jobs, warm=args.warm)
        args.warm = False  # the cache is full after the first backbone
        results["backbones"][name] = {"protocols": summary["protocols"]}
        # written after every backbone, so an interrupted benchmark keeps what it measured
        (output / f"{args.name}.json").write_text(json.dumps(results, indent=2))
        if args.markdown:
            (output / f"{args.name}.md").write_text(table(results) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
