"""Where the LM pays on the synthetic table: overall, and on the rows of rare items.

    python benchmarks/synth_quality.py [--rows 200000] [--seeds 5] [--rare 10]
        [--titles words|meaning] [--methods backbone,item_lm] [--results PATH]

`elec data synth` plants part of the click signal in the item's title words, and its
items follow a Zipf law: a frequent item's appeal can be learnt from its id, a rare
item's only from its words. For each seed, `elec run` (in memory, the default MiniLM
reading the title) trains the backbone, the no-LM controls (self_distilled,
ensemble_distilled) and ELEC's gain and vanilla networks; then every network's test
predictions are scored on all test rows, on the rows whose item has fewer than
``--rare`` training rows and on those whose item has none (new). Deltas are paired by
seed. ``--titles meaning`` runs on the table whose titles carry attributes in varied
wordings (`elec data synth --titles meaning`) instead of plain word weights. Writes
benchmarks/results/synth_quality.json. ``--methods`` picks other rows of the method table
(e.g. the item-level ``item_lm``, which reads one LM vector per item title,
``vanilla_item``, ELEC's student with that vector, and ``words``, the no-LM control that
reads the title's plain words).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from elec.bench import stats
from elec.config import load_config
from elec.data.synth import ITEM, SynthConfig, synthesize
from elec.environment import environment
from elec.pipeline import Run
from elec.train.metrics import evaluate
from elec.train.trainer import sigmoid
from elec.ui import Reporter

RESULTS = Path(__file__).parent / "results"
METHODS = ["backbone", "self_distilled", "ensemble_distilled", "gain", "vanilla"]
DELTAS = [("vanilla", "self_distilled"), ("vanilla", "ensemble_distilled"),
          ("vanilla", "backbone"), ("gain", "backbone"), ("item_lm", "backbone"),
          ("vanilla", "item_lm"), ("vanilla_item", "backbone"), ("vanilla_item", "vanilla"),
          ("vanilla_item", "item_lm"), ("words", "backbone"), ("item_lm", "words"),
          ("vanilla", "words"), ("vanilla_item", "words")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rare", type=int, default=10)
    parser.add_argument("--titles", choices=["words", "meaning"], default="words")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated; deltas between those present")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--work", default="runs/synth-quality")
    parser.add_argument("--results", default=str(RESULTS / "synth_quality.json"))
    args = parser.parse_args()
    methods = args.methods.split(",")
    deltas = [(a, b) for a, b in DELTAS if a in methods and b in methods]
    work = Path(args.work)
    data = work / (f"synth-{args.rows}" + ("-meaning" if args.titles == "meaning" else ""))
    if not (data / "synth.json").is_file():
        synthesize(SynthConfig(rows=args.rows, titles=args.titles), data,
                   progress=lambda m: None)
    train_items = pq.read_table(data / "train", columns=[ITEM])[ITEM].to_numpy()
    test = pq.read_table(data / "test", columns=[ITEM, "label"])
    counts = dict(zip(*np.unique(train_items, return_counts=True), strict=True))
    trained = np.array([counts.get(i, 0) for i in test[ITEM].to_numpy()])
    slices = {"all": trained >= 0, "rare": trained < args.rare, "new": trained == 0}
    rare = slices["rare"]
    labels = test["label"].to_numpy().astype(np.float64)
    per_seed = []
    for seed in range(args.seeds):
        cfg = load_config(data / "elec.yaml", ["data.storage=memory", f"seed={seed}",
                                               f"methods={methods}", *args.overrides])
        out = work / f"seed-{seed}"
        with Reporter(out / "log.txt", quiet=True) as reporter:
            run = Run(cfg, out, reporter)
            scores = {}
            for method in methods:
                run.method(method)
                p = sigmoid(run.logits(method, "test"))
                scores[method] = {name: evaluate(labels[rows], p[rows])["auc"]
                                  for name, rows in slices.items()}
        per_seed.append({"seed": seed, "auc": scores})
        print(f"seed {seed} (all/rare/new): " + "  ".join(
            f"{m} {s['all']:.4f}/{s['rare']:.4f}/{s['new']:.4f}" for m, s in scores.items()),
            flush=True)
    summary = {}
    for rows in slices:
        part = {m: stats([s["auc"][m][rows] for s in per_seed]) for m in methods}
        for a, b in deltas:
            diff = stats([s["auc"][a][rows] - s["auc"][b][rows] for s in per_seed])
            part[f"{a} - {b}"] = {**diff, "positive": sum(d > 0 for d in diff["values"])}
        summary[rows] = part
    synth = json.loads((data / "synth.json").read_text())
    result = {"rows": args.rows, "titles": args.titles, "rare_below_training_rows": args.rare,
              "test_rows": len(labels), "rare_test_rows": int(rare.sum()),
              "new_test_rows": int(slices["new"].sum()),
              "achievable_test_auc": synth["splits"]["test"]["achievable_auc"],
              "achievable_test_slices": synth["splits"]["test"].get("slices"),
              "seeds": per_seed, "summary": summary, "config": cfg.to_dict(),
              "environment": environment()}
    Path(args.results).write_text(json.dumps(result, indent=2))
    for rows in slices:
        print(f"{rows}: " + "  ".join(
            f"{k} {v['mean']:+.4f} ({v['positive']}/{len(per_seed)})"
            for k, v in summary[rows].items() if " - " in k))


if __name__ == "__main__":
    main()
