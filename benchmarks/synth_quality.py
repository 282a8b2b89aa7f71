"""Where the LM pays on the synthetic table: overall, and on the rows of rare items.

    python benchmarks/synth_quality.py [--rows 200000] [--seeds 5] [--rare 10]
        [--titles words|meaning] [--methods backbone,item_lm] [--results PATH]
    python benchmarks/synth_quality.py --config configs/ml100k.yaml --set data.split=cold-item

`elec data synth` plants part of the click signal in the item's title words, and its
items follow a Zipf law: a frequent item's appeal can be learnt from its id, a rare
item's only from its words. For each seed, `elec run` (in memory, the default MiniLM
reading the title) trains the backbone, the no-LM controls (self_distilled,
ensemble_distilled) and ELEC's gain and vanilla networks; then every network's test
predictions are scored on all test rows, on the rows whose item has fewer than
``--rare`` training rows and on those whose item has none (new). Deltas are paired by
seed. ``--titles meaning`` runs on the table whose titles carry attributes in varied
wordings (`elec data synth --titles meaning`) instead of plain word weights. Writes
benchmarks/results/lm_reach_<data>_<backbone>.json (data: synth_<titles>, or the
config's name and split), which benchmarks/report.py reads. ``--methods`` picks other
rows of the method table (e.g. the item-level ``item_lm``, which reads one LM vector per item title,
``vanilla_item``, ELEC's student with that vector, and ``words``, the no-LM control that
reads the title's plain words). ``--config`` runs on any other table instead (its
item column's test rows sliced the same way).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from elec import (
    Reporter,
    Run,
    SynthConfig,
    environment,
    evaluate,
    load_config,
    sigmoid,
    stats,
    synthesize,
)

RESULTS = Path(__file__).parent / "results"
METHODS = ["backbone", "self_distilled", "ensemble_distilled", "gain", "vanilla"]
DELTAS = [("vanilla", "self_distilled"), ("vanilla", "ensemble_distilled"),
          ("vanilla", "backbone"), ("gain", "backbone"), ("item_lm", "backbone"),
          ("vanilla", "item_lm"), ("vanilla_item", "backbone"), ("vanilla_item", "vanilla"),
          ("vanilla_item", "item_lm"), ("words", "backbone"), ("item_lm", "words"),
          ("vanilla", "words"), ("vanilla_item", "words"),
          *[(served, control) for served in ("item_gen", "vanilla_gen")
            for control in ("backbone", "words", "ensemble_distilled", "vanilla", "item_lm")],
          ("vanilla_gen", "item_gen"),
          *[(served, control) for served in ("vanilla_tail", "tail_gen")
            for control in ("backbone", "words", "ensemble_distilled", "ensemble_tail",
                            "vanilla", "item_gen")],
          ("ensemble_tail", "ensemble_distilled"), ("tail_gen", "vanilla_tail")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rare", type=int, default=10)
    parser.add_argument("--titles", choices=["words", "meaning"], default="words")
    parser.add_argument("--config", help="a run configuration instead of the synthetic table")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated; deltas between those present")
    parser.add_argument("--vary-split", action="store_true",
                        help="seed s also splits with data.split_seed = 2024 + s")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--work", default="runs/synth-quality")
    parser.add_argument("--results", help="default: lm_reach_<data>_<backbone>.json")
    parser.add_argument("--only", help="comma-separated seeds to train, the others left alone "
                        "(to train seeds in parallel; a last run over all seeds resumes them)")
    args = parser.parse_args()
    methods = args.methods.split(",")
    deltas = [(a, b) for a, b in DELTAS if a in methods and b in methods]
    work = Path(args.work)
    data = work / (f"synth-{args.rows}" + ("-meaning" if args.titles == "meaning" else ""))
    if args.config is None and not (data / "synth.json").is_file():
        synthesize(SynthConfig(rows=args.rows, titles=args.titles), data,
                   progress=lambda m: None)
    config = Path(args.config) if args.config else data / "elec.yaml"
    memory = [] if args.config else ["data.storage=memory"]
    per_seed = []
    only = None if args.only is None else {int(s) for s in args.only.split(",")}
    for seed in range(args.seeds):
        if only is not None and seed not in only:
            continue
        split = [f"data.split_seed={2024 + seed}"] if args.vary_split else []
        cfg = load_config(config, [*memory, f"seed={seed}", f"methods={methods}", *split,
                                   *args.overrides])
        out = work / f"seed-{seed}"
        if args.results is None:
            name = f"synth_{args.titles}" if args.config is None else \
                f"{config.stem}-{cfg.data.split}"
            args.results = str(RESULTS / f"lm_reach_{name}_{cfg.model.name}.json")
        with Reporter(out / "log.txt", quiet=True) as reporter:
            run = Run(cfg, out, reporter)
            slices = item_slices(run, args.rare)
            labels = run.data.columns["test"].label.cpu().numpy().astype(np.float64)
            scores = {}
            for method in methods:
                run.method(method)
                p = sigmoid(run.logits(method, "test"))
                scores[method] = {name: evaluate(labels[rows], p[rows])["auc"]
                                  for name, rows in slices.items()}
        per_seed.append({"seed": seed, "auc": scores})
        write_results(args, per_seed, methods, deltas, slices, run, cfg, data, config, labels)
        print(f"seed {seed} (all/rare/new): " + "  ".join(
            f"{m} {s['all']:.4f}/{s['rare']:.4f}/{s['new']:.4f}" for m, s in scores.items()),
            flush=True)
    summary = write_results(args, per_seed, methods, deltas, slices, run, cfg, data, config,
                            labels)
    for rows in slices:
        print(f"{rows}: " + "  ".join(
            f"{k} {v['mean']:+.4f} ({v['positive']}/{len(per_seed)})"
            for k, v in summary[rows].items() if " - " in k))


def write_results(args, per_seed, methods, deltas, slices, run, cfg, data, config, labels
                  ) -> dict:
    """The results file of the seeds finished so far (written after each: a stopped run
    keeps them); returns the summary."""
    summary = {}
    for rows in slices:
        part = {m: stats([s["auc"][m][rows] for s in per_seed]) for m in methods}
        for a, b in deltas:
            diff = stats([s["auc"][a][rows] - s["auc"][b][rows] for s in per_seed])
            part[f"{a} - {b}"] = {**diff, "positive": sum(d > 0 for d in diff["values"])}
        summary[rows] = part
    synth = json.loads((data / "synth.json").read_text()) if args.config is None else {
        "splits": {"test": {"achievable_auc": None}}}
    result = {"rows": args.rows if args.config is None else len(run.data.columns["train"]),
              "titles": args.titles if args.config is None else None,
              "data": "synth_" + args.titles if args.config is None else config.stem,
              "rare_below_training_rows": args.rare,
              "command": " ".join(["python", "benchmarks/synth_quality.py", *sys.argv[1:]]),
              "seeds_planned": args.seeds,
              "test_rows": len(labels), "rare_test_rows": int(slices["rare"].sum()),
              "new_test_rows": int(slices["new"].sum()),
              "achievable_test_auc": synth["splits"]["test"]["achievable_auc"],
              "achievable_test_slices": synth["splits"]["test"].get("slices"),
              "seeds": per_seed, "summary": summary, "config": cfg.to_dict(),
              "environment": environment()}
    Path(args.results).write_text(json.dumps(result, indent=2))
    return summary


def item_slices(run: Run, rare: int) -> dict[str, np.ndarray]:
    """The test rows: all, of items with fewer than ``rare`` training rows, of items with
    none (their id out of vocabulary)."""
    column = run.cfg.data.item_column
    test = run.data.columns["test"].single[:, run.data.schema.single_column(column)].cpu()
    trained = run.data.rows_per_item(column)[test].numpy()
    return {"all": trained >= 0, "rare": trained < rare, "new": trained == 0}


if __name__ == "__main__":
    main()
