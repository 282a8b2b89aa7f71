"""New items and the item id read as unseen in training (``train.item_dropout``): test
AUC per rate and split, paired by seed against the same method at rate 0.

    python benchmarks/item_dropout.py [-c configs/ml100k.yaml] [--rates 0,0.1,0.3,0.5]
        [--protocols cold-item,random,temporal] [--methods backbone] [--seeds 5]
        [--jobs 2] [--work runs/item-dropout] [--results PATH] [--set KEY=VALUE ...]

On the cold-item split every test item is new, on random none, on temporal some: the
three together show what a rate buys on new items and what it costs on known ones. Each
(rate, split) is one `elec bench quality` in ``--work``; a run found there finished is
read, not trained again. The validation AUC per rate is written too: a rate is chosen
on it, not on the test split. Writes benchmarks/results/item_dropout_<backbone>_<device>.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from elec import environment, load_config, paired, quality, stats, write_json

RESULTS = Path(__file__).parent / "results"


def aucs(part: dict, method: str, split: str) -> list[float]:
    return part["methods"][method][split]["auc"]["values"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", default="configs/ml100k.yaml")
    parser.add_argument("--rates", default="0,0.1,0.3,0.5")
    parser.add_argument("--protocols", default="cold-item,random,temporal")
    parser.add_argument("--methods", default="backbone")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work", default="runs/item-dropout")
    parser.add_argument("--results", type=Path, help="the JSON to write (default: "
                        "benchmarks/results/item_dropout_<backbone>_<cpu|gpu>.json)")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    if rates[0] != 0:
        rates.insert(0, 0.0)  # the reference every rate is paired with
    methods = args.methods.split(",")
    cfg = load_config(args.config, args.overrides)
    result = {"backbone": cfg.model.name, "rates": rates, "methods": methods,
              "seeds": list(range(args.seeds)), "protocols": {},
              "command": "python benchmarks/item_dropout.py " + " ".join(
                  f"--{k} {v}" for k, v in (("rates", args.rates),
                                            ("protocols", args.protocols),
                                            ("methods", args.methods),
                                            ("seeds", args.seeds), ("jobs", args.jobs),
                                            *(("set", o) for o in args.overrides))),
              "config": cfg.to_dict(), "environment": environment()}
    for protocol in args.protocols.split(","):
        parts = {}
        for rate in rates:
            rated = load_config(args.config, [*args.overrides, f"train.item_dropout={rate}"])
            summary = quality(rated, range(args.seeds), [protocol],
                              Path(args.work) / f"{protocol}-{rate:g}", methods, args.jobs)
            parts[rate] = summary["protocols"][protocol]
        base = parts[0.0]
        result["protocols"][protocol] = {
            f"{rate:g}": {method: {
                "valid": stats(aucs(part, method, "valid")),
                "test": stats(aucs(part, method, "test")),
                "test - rate 0": paired(aucs(part, method, "test"), aucs(base, method, "test")),
                "test - backbone at rate 0": paired(aucs(part, method, "test"),
                                                    aucs(base, "backbone", "test")),
            } for method in methods if method in part["methods"]}
            for rate, part in parts.items()}
        device = "gpu" if result["environment"]["gpu"] else "cpu"
        # after every split: an interruption keeps what was measured
        write_json(args.results or RESULTS / f"item_dropout_{cfg.model.name}_{device}.json",
                   result)
        for rate in rates[1:]:
            delta = result["protocols"][protocol][f"{rate:g}"]["backbone"]["test - rate 0"] \
                if "backbone" in methods else None
            if delta:
                print(f"{protocol}, item_dropout {rate:g}: backbone {delta['mean']:+.4f} AUC "
                      f"against rate 0 ({delta['positive']}/{delta['seeds']} seeds)")


if __name__ == "__main__":
    main()
