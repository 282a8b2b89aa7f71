"""Search for a distillation recipe that makes the LM pay (issue 7): every variant against
its controls, paired by seed.

    python benchmarks/recipe_search.py [--models deepfm,dcnv2] [--protocols cold-item-pool,random]
        [--seeds 5] [--jobs 4] [--variants mix0.5,pool-w3] [--set key=value ...]

One job per (model, protocol, seed): an ordinary resumable run trains the textbook
methods (backbone, cross_teacher, gain, and their students), then every variant
trains its vanilla network and, with the same distillation settings apart from the
teacher mix (which only a gain-network student has), the self- and cross-distilled
controls. Each job writes its records as soon as it has them, so a search stopped
early keeps every finished result; the summary (means, paired deltas, positive
seeds) is rebuilt from whatever is there. Writes benchmarks/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch

from elec.config import load_config
from elec.data.store import write_json
from elec.pipeline import Run, environment
from elec.ui import Reporter

RESULTS = Path(__file__).parent / "results"
TEXTBOOK = ["backbone", "cross_teacher", "self_distilled", "cross_distilled", "gain", "vanilla"]
# name -> distill settings; pool-only variants change nothing without unlabeled rows
VARIANTS = {
    "mix0.5": {"teacher_mix": 0.5},
    "mix0.5-score": {"teacher_mix": 0.5, "beta": 0.0},
    "score": {"beta": 0.0},
    "pool-w3": {"unlabeled_weight": 3.0},
    "mix0.5-pool-w3": {"teacher_mix": 0.5, "unlabeled_weight": 3.0},
    "mix0.7": {"teacher_mix": 0.7},
    "T2-mix0.5": {"temperature": 2.0, "teacher_mix": 0.5},
}
POOL_ONLY = {"pool-w3", "mix0.5-pool-w3"}


def one_job(job: dict) -> Path:
    torch.set_num_threads(job["threads"])
    cfg = load_config(job["config"], job["overrides"] + [
        f"seed={job['seed']}", f"model.name={job['model']}", "model.params={}",
        f"data.split={job['protocol']}", f"methods=[{','.join(TEXTBOOK)}]"])
    out = Path(job["out"])
    records_path = out / "search.json"
    records = json.loads(records_path.read_text()) if records_path.is_file() else {}
    with Reporter(out / "log.txt", quiet=True) as reporter:
        run = Run(cfg, out, reporter)
        run._check_resume()
        for name in TEXTBOOK:
            records.setdefault("textbook", {})[name] = run.method(name).record["test"]
        write_json(records_path, records)
        for variant in job["variants"]:
            if variant in records:
                continue
            distill = cfg.distill.model_copy(update=VARIANTS[variant])
            control = distill.model_copy(update={"teacher_mix": 1.0})
            tag = "-".join(f"{k}{v}" for k, v in sorted(control.model_dump().items())
                           if v != getattr(cfg.distill, k))
            result = {"vanilla": run._student(f"vanilla@{variant}", "gain",
                                              distill).record["test"]}
            for name, teacher in (("self_distilled", "backbone"),
                                  ("cross_distilled", "cross_teacher")):
                if not tag:  # the controls of the textbook settings are trained already
                    result[name] = records["textbook"][name]
                    continue
                cached = records.get("controls", {}).get(f"{name}@{tag}")
                if cached is None:
                    cached = run._student(f"{name}@{tag}", teacher, control).record["test"]
                    records.setdefault("controls", {})[f"{name}@{tag}"] = cached
                result[name] = cached
            records[variant] = result
            write_json(records_path, records)
    return out


def auc(records: dict, variant: str, method: str) -> float:
    """A variant's own result, or the textbook one for what the variant did not retrain."""
    own = records[variant]
    return (own if method in own else records["textbook"])[method]["auc"]


def summarise(out: Path, models, protocols, seeds, variants) -> dict:
    summary: dict = {}
    for model in models:
        for protocol in protocols:
            per_seed = {}
            for seed in seeds:
                path = out / model / protocol / f"seed-{seed}" / "search.json"
                if path.is_file():
                    per_seed[seed] = json.loads(path.read_text())
            if not per_seed:
                continue
            rows = {}
            for variant in ["textbook", *variants]:
                have = [s for s in per_seed if variant in per_seed[s]]
                if not have:
                    continue
                row: dict = {"seeds": have}
                for method in ("backbone", "gain", "self_distilled", "cross_distilled", "vanilla"):
                    row[method] = float(np.mean([auc(per_seed[s], variant, method) for s in have]))
                for control in ("self_distilled", "cross_distilled", "backbone"):
                    diff = [auc(per_seed[s], variant, "vanilla")
                            - auc(per_seed[s], variant, control) for s in have]
                    row[f"vanilla - {control}"] = {
                        "mean": float(np.mean(diff)), "positive": int(sum(d > 0 for d in diff)),
                        "values": diff}
                rows[variant] = row
            summary.setdefault(model, {})[protocol] = rows
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ml100k.yaml")
    parser.add_argument("--models", default="deepfm,dcnv2")
    parser.add_argument("--protocols", default="cold-item-pool,random")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--out", default="runs/search")
    parser.add_argument("--name", default="recipe_search")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    models, protocols = args.models.split(","), args.protocols.split(",")
    seeds, variants = list(range(args.seeds)), args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    out = Path(args.out)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    jobs = [{"config": args.config, "overrides": args.overrides, "model": m, "protocol": p,
             "seed": s, "threads": threads, "out": str(out / m / p / f"seed-{s}"),
             "variants": [v for v in variants if p == "cold-item-pool" or v not in POOL_ONLY]}
            for s in seeds for m in models for p in protocols]
    target = Path(args.results) / f"{args.name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    base = load_config(args.config, args.overrides)

    def save() -> None:
        write_json(target, {"variants": {v: VARIANTS[v] for v in variants},
                            "summary": summarise(out, models, protocols, seeds, variants),
                            "config": base.to_dict(), "environment": environment()})

    if args.jobs == 1:
        for job in jobs:
            one_job(job)
            save()
    else:
        with ProcessPoolExecutor(args.jobs) as pool:
            for done in as_completed([pool.submit(one_job, job) for job in jobs]):
                print(f"done: {done.result()}", flush=True)
                save()
    save()
    print(json.dumps(summarise(out, models, protocols, seeds, variants), indent=1))


if __name__ == "__main__":
    main()
