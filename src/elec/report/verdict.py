"""What ``elec run`` says last: which network to serve and why, its lift in this run,
and what serving it costs, measured on the bundles ``elec export`` writes (the served
network against the backbone, in this process, on rows made of the model's own values)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from elec.exporter import NEAR, SERVED_FIRST, chosen, export, served_by_default
from elec.serve.bundle import BundleError
from elec.serve.predictor import Predictor
from elec.serve.requests import request_rows

BATCHES = (1, 1024)
CALLS = {1: 200, 1024: 20}  # timed calls per batch size, per network, after a warm-up
NOISE = 0.003  # about how far one run's test AUC moves with the seed


def sample_rows(predictor: Predictor, count: int) -> list[dict]:
    """``count`` request rows for ``predictor`` (``request_rows``), with its item fields
    where it looks items up."""
    rows = request_rows(predictor.schema, count, seed=0)
    if predictor.items is not None:
        for spec in predictor.items.fields:
            for k, row in enumerate(rows):
                row.setdefault(spec.name, f"an item {k % 50}")
    return rows


def latencies(predictors: dict[str, Predictor], rows: list[dict]) -> dict[str, dict]:
    """Median milliseconds of ``predict_proba`` per network and batch size, on one thread
    (threads waiting on each other swing most where other work shares the cores), the
    networks taking turns call by call (neither always first)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _latencies(predictors, rows)
    finally:
        torch.set_num_threads(threads)


def _latencies(predictors: dict[str, Predictor], rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {name: {} for name in predictors}
    for batch in BATCHES:
        chosen = rows[:batch]
        for predictor in predictors.values():  # warm-up
            for _ in range(3):
                predictor.predict_proba(chosen)
        times: dict[str, list[float]] = {name: [] for name in predictors}
        names = list(predictors)
        for call in range(CALLS[batch]):
            for name in names if call % 2 else names[::-1]:
                started = time.perf_counter()
                predictors[name].predict_proba(chosen)
                times[name].append(time.perf_counter() - started)
        for name, seconds in times.items():
            out[name][str(batch)] = 1000 * float(np.median(seconds))
    return out


def serving_cost(run_dir: Path, method: str, beside: str | None = "backbone") -> dict:
    """The bundle of ``method`` beside ``beside``'s: bytes, what it carries besides the
    network, and p50 milliseconds at batch 1 and 1024."""
    with tempfile.TemporaryDirectory() as tmp:
        predictors, sizes = {}, {}
        for name in dict.fromkeys([method, *([beside] if beside else [])]):
            bundle = export(run_dir, Path(tmp) / name, name)
            predictors[name] = Predictor.from_bundle(bundle)
            sizes[name] = sum(p.stat().st_size for p in bundle.iterdir())
        manifest = predictors[method].manifest
        p50 = latencies(predictors, sample_rows(predictors[method], max(BATCHES)))
    return {"p50_ms": p50, "bytes": sizes,
            "item_table": (manifest.get("item_lookup") or {}).get("items", 0),
            "item_rows": bool(manifest.get("item_rows"))}


def advice(results: dict) -> str | None:
    """What to try where ELEC's students fall below the backbone they are distilled into
    (by more than NEAR in validation AUC) with the score-level term on: on tables where
    every network overfits within an epoch, the teachers' scores are a worse target than
    their representations (docs/new-items.md measures it)."""
    valid = {name: m["valid"]["auc"] for name, m in results["methods"].items()
             if m.get("valid")}
    alpha = results.get("config", {}).get("distill", {}).get("alpha", 1.0)
    if "vanilla" not in valid or "backbone" not in valid or not alpha:
        return None
    below = valid["backbone"] - valid["vanilla"]
    if below <= NEAR:
        return None
    return (f"vanilla is {below:.4f} below backbone in validation AUC: where the students "
            f"fall below their backbone, distilling with the representation-level term "
            f"alone has lifted them (--set distill.alpha=0, into a new --out; "
            f"docs/new-items.md)")


def verdict(results: dict, run_dir: Path) -> dict:
    """Which of the run's networks to serve (``exporter.chosen``), why, and what it costs
    (method None where none serves without the LM); ``export`` names it where `elec
    export`'s default, over every network the directory holds, is another."""
    methods = results["methods"]
    valid = {name: m["valid"]["auc"] for name, m in methods.items()
             if not m["serves_llm"] and m.get("valid")}
    if not valid:
        return {"method": None}
    served, best = chosen(valid), max(valid, key=valid.__getitem__)
    lifts = {m: methods[served]["test"]["auc"] - methods[m]["test"]["auc"]
             for m in ("backbone", "self_distilled") if m in methods and m != served}
    try:
        cost = serving_cost(run_dir, served, "backbone" if "backbone" in valid else None)
    except BundleError as error:  # the verdict still stands; say why it has no cost
        cost = {"error": str(error)}
    named = "" if served_by_default(run_dir) == served else f" --method {served}"
    return {"method": served, "valid_auc": valid[served], "best": best,
            "best_valid_auc": valid[best], "lifts": lifts, "cost": cost,
            "export": f"elec export {run_dir} --out bundle{named}", "advice": advice(results)}


def verdict_lines(said: dict, run_dir: Path) -> list[str]:
    """The verdict as ``elec run`` prints it."""
    served = said["method"]
    if served is None:
        return ["no network of this run serves without the LM: add vanilla (ELEC's served "
                "network) or backbone to methods"]
    best = said["best"]
    if served == best:
        why = f"the highest validation AUC ({said['valid_auc']:.4f}) of the networks that " \
              f"need no LM at serving"
    else:
        why = (f"validation AUC {said['valid_auc']:.4f}, within {NEAR} of the best, "
               f"{best}'s {said['best_valid_auc']:.4f}; among networks that close, the first "
               f"of {', '.join(SERVED_FIRST)}, the order the benchmarks rank them")
    lines = [f"serve {served}: {why}"]
    if said["lifts"]:
        lines.append("  in this run: " + ", ".join(
            f"{v:+.4f} test AUC over {m}" for m, v in said["lifts"].items())
            + f" (one seed moves AUC by about {NOISE}; `elec bench quality` measures over "
              f"seeds)")
    cost = said["cost"]
    if "error" in cost:
        lines.append(f"  serving cost not measured: {cost['error']}")
    else:
        carries = ("an item table of {:,} items' vectors".format(cost["item_table"])
                   if cost["item_table"] else "its items' rows in the embedding table"
                   if cost["item_rows"] else "nothing but the network")
        p50 = cost["p50_ms"]
        times = ", ".join(f"{p50[served][b]:.2f} ms at {int(b):,} row{'s' * (b != '1')}"
                          for b in p50[served])
        ratio = (" (" + ", ".join(f"{p50[served][b] / p50['backbone'][b]:.2f}x"
                                  for b in p50[served]) + " the backbone's, measured now)"
                 if served != "backbone" and "backbone" in p50 else "")
        lines.append(f"  serving: no LM, {carries}; p50 on one thread {times}{ratio}")
    lines.append("  " + said.get("export", f"elec export {run_dir} --out bundle"))
    if said.get("advice"):
        lines.append("  try: " + said["advice"])
    return lines
