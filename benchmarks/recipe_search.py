"""Search for a distillation recipe that makes the LM pay: every variant against
its controls, paired by seed.

    python benchmarks/recipe_search.py [--models deepfm,dcnv2] [--protocols cold-item-pool,random]
        [--seeds 5] [--jobs 4] [--variants mix0.5,pool-w3] [--set key=value ...]

One job per (model, protocol, seed): an ordinary resumable run trains the textbook
methods (the paper's recipe: teacher_mix 1.0; backbone, cross_teacher, gain, and their
students), then every distillation variant trains its vanilla network and, with the
same distillation settings apart from the teacher mix (which only a gain-network
student has), the self- and cross-distilled controls; a variant that blends the
teacher also trains its no-LM twin, ensemble_distilled. A gain-side variant (its
name in GAIN_VARIANTS) retrains stage 1 where it must and the gain network with its
config overrides, in a run of its own beside the textbook one (sharing its backbone),
and trains its vanilla network with the default blend (teacher_mix 0.5); its controls
are those of `mix0.5`. Each job writes its records as soon as it has them, so a
search stopped early keeps every finished result; the summary (means, paired deltas,
positive seeds) is rebuilt from whatever is there. Writes
benchmarks/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch

from elec import (
    Reporter,
    Run,
    RunDir,
    environment,
    evaluate,
    load_config,
    sigmoid,
    variant_of,
    write_json,
)

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
POOL_ONLY = {"pool-w3", "mix0.5-pool-w3"}  # only on the *-pool protocols
# name -> config overrides of the gain side (stage 1 and the gain network), each trained
# with the distillation of "mix0.5", against that variant's controls
GAIN_VARIANTS = {
    "fd0": ["gain.field_dropout=0.0"],
    "fd0.8": ["gain.field_dropout=0.8"],
    "dim16": ["adapter.dim=16"],
    "dim256": ["adapter.dim=256"],
    "wd1e-2": ["gain.projection_weight_decay=1e-2"],
    "folds2": ["adapter.folds=2"],
    "folds10": ["adapter.folds=10"],
}
SHARED = ("backbone",)  # what a gain-side variant's run copies from the textbook run


def job_config(job: dict, *overrides: str):
    """The job's (model, protocol, seed) configuration with ``overrides`` on top."""
    return load_config(job["config"], job["overrides"] + [
        f"seed={job['seed']}", f"model.name={job['model']}", "model.params={}",
        f"data.split={job['protocol']}", *overrides])


def one_job(job: dict) -> Path:
    torch.set_num_threads(job["threads"])
    cfg = job_config(job, f"methods=[{','.join(TEXTBOOK)}]", "distill.teacher_mix=1.0")
    out = Path(job["out"])
    records_path = out / "search.json"
    records = json.loads(records_path.read_text()) if records_path.is_file() else {}
    with Reporter(out / "log.txt", quiet=True) as reporter:
        run = Run(cfg, out, reporter)
        for name in TEXTBOOK:
            records.setdefault("textbook", {})[name] = run.method(name)["test"]
        if "teachers" not in records:
            records["teachers"] = teacher_aucs(run)
        write_json(records_path, records)
        for name in job["variants"]:
            if name in records:
                continue
            if name in GAIN_VARIANTS:
                records[name] = gain_variant(job, run, name, reporter, records)
            else:
                records[name] = distill_variant(run, cfg, VARIANTS[name], records, name)
            write_json(records_path, records)
    return out


def teacher_aucs(run: Run) -> dict:
    """Test AUC of each teacher a student can learn from, blends included: whether the
    LM makes a better teacher than a second backbone does, before any student trains."""
    labels = run.data.columns["test"].label.cpu().numpy()
    gain, backbone, cross = (run.logits(name, "test")
                             for name in ("gain", "backbone", "cross_teacher"))
    scored = {"gain": gain, "backbone": backbone, "cross_teacher": cross,
              "gain+backbone": 0.5 * (gain + backbone),
              "cross_teacher+backbone": 0.5 * (cross + backbone)}
    return {name: evaluate(labels, sigmoid(logit))["auc"] for name, logit in scored.items()}


def distill_variant(run: Run, cfg, settings: dict, records: dict, name: str) -> dict:
    """A vanilla network distilled with ``settings`` and its controls, paired by seed."""
    distill = cfg.distill.model_copy(update=settings)
    control = {**settings, "teacher_mix": 1.0}
    tag = "-".join(f"{k}{v}" for k, v in sorted(distill.model_copy(update=control)
                                                .model_dump().items())
                   if v != getattr(cfg.distill, k))
    result = {"vanilla": run.method(variant_of("vanilla", f"vanilla@{name}", **settings))["test"]}
    # method -> (record key, settings); without a tag the textbook's self- and
    # cross-distilled students are these controls already
    controls = {}
    for method in ("self_distilled", "cross_distilled"):
        if tag:
            controls[method] = (f"{method}@{tag}", control)
        else:
            result[method] = records["textbook"][method]
    if distill.teacher_mix < 1.0:  # the same blend with a teacher that never saw the LM
        controls["ensemble_distilled"] = (f"ensemble_distilled@{name}", settings)
    for method, (key, settings_) in controls.items():
        cached = records.get("controls", {}).get(key)
        if cached is None:
            cached = run.method(variant_of(method, key, **settings_))["test"]
            records.setdefault("controls", {})[key] = cached
        result[method] = cached
    return result


def gain_variant(job: dict, run: Run, name: str, reporter: Reporter, records: dict) -> dict:
    """The gain network retrained with the variant's overrides, and its vanilla network
    with the default blend; controls are those of mix0.5 (trained here if missing)."""
    if "mix0.5" not in records:
        records["mix0.5"] = distill_variant(run, run.cfg, VARIANTS["mix0.5"], records,
                                            "mix0.5")
    shared = RunDir(Path(job["out"]) / name)
    for method in SHARED:  # the backbone does not depend on the gain side: train it once
        if shared.finished(method) is None:
            shared.copy_from(run.dir, method)
    vcfg = job_config(job, "methods=[gain,vanilla]", "distill.teacher_mix=0.5",
                      *GAIN_VARIANTS[name])
    vrun = Run(vcfg, shared.path, reporter)
    result = {"gain": vrun.method("gain")["test"], "vanilla": vrun.method("vanilla")["test"]}
    for name in ("self_distilled", "cross_distilled", "ensemble_distilled"):
        result[name] = records["mix0.5"][name]
    return result


def job_records(out: Path, model: str, protocol: str, seeds) -> dict[int, dict]:
    """seed -> the records its job has written so far (seeds without any are left out)."""
    paths = {seed: out / model / protocol / f"seed-{seed}" / "search.json" for seed in seeds}
    return {seed: json.loads(path.read_text()) for seed, path in paths.items()
            if path.is_file()}


def auc(records: dict, variant: str, method: str) -> float:
    """A variant's own result, or the textbook one for what the variant did not retrain."""
    own = records[variant]
    return (own if method in own else records["textbook"])[method]["auc"]


def summarise(out: Path, models, protocols, seeds, variants) -> dict:
    summary: dict = {}
    for model in models:
        for protocol in protocols:
            per_seed = job_records(out, model, protocol, seeds)
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
                for control in ("self_distilled", "cross_distilled", "ensemble_distilled",
                                "backbone"):
                    if any(control not in per_seed[s][variant]
                           and control not in per_seed[s]["textbook"] for s in have):
                        continue  # only blended variants have the ensemble control
                    diff = [auc(per_seed[s], variant, "vanilla")
                            - auc(per_seed[s], variant, control) for s in have]
                    row[f"vanilla - {control}"] = {
                        "mean": float(np.mean(diff)), "positive": int(sum(d > 0 for d in diff)),
                        "values": diff}
                rows[variant] = row
            summary.setdefault(model, {})[protocol] = rows
    return summary


def teacher_summary(out: Path, models, protocols, seeds) -> dict:
    """Mean test AUC per teacher and the paired gap between the LM blend and its no-LM
    twin, per (model, protocol)."""
    summary: dict = {}
    for model in models:
        for protocol in protocols:
            per_seed = [r["teachers"] for r in job_records(out, model, protocol, seeds).values()
                        if "teachers" in r]
            if not per_seed:
                continue
            cell = {name: float(np.mean([t[name] for t in per_seed])) for name in per_seed[0]}
            gap = [t["gain+backbone"] - t["cross_teacher+backbone"] for t in per_seed]
            cell["seeds"] = len(per_seed)
            cell["gain+backbone - cross_teacher+backbone"] = {
                "mean": float(np.mean(gap)), "positive": int(sum(g > 0 for g in gap)),
                "values": gap}
            summary.setdefault(model, {})[protocol] = cell
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
    unknown = [v for v in variants if v not in VARIANTS and v not in GAIN_VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from "
                     f"{', '.join([*VARIANTS, *GAIN_VARIANTS])}")
    out = Path(args.out)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    jobs = [{"config": args.config, "overrides": args.overrides, "model": m, "protocol": p,
             "seed": s, "threads": threads, "out": str(out / m / p / f"seed-{s}"),
             "variants": [v for v in variants if p.endswith("-pool") or v not in POOL_ONLY]}
            for s in seeds for m in models for p in protocols]
    target = Path(args.results) / f"{args.name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    base = load_config(args.config, args.overrides)

    def save() -> None:
        write_json(target, {"variants": {v: VARIANTS.get(v) or {"overrides": GAIN_VARIANTS[v]}
                                         for v in variants},
                            "summary": summarise(out, models, protocols, seeds, variants),
                            "teachers": teacher_summary(out, models, protocols, seeds),
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
