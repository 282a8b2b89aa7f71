"""Where the LM reaches rare and new items: every served use of the LM against every
control, per slice of the test rows, paired by seed.

Reads ``lm_reach_<data>_<backbone>.json`` (benchmarks/synth_quality.py: one run per
seed, every method scored on all test rows and on the rows of rare and of new items)
and, beside each, ``..._item-dropout.json`` (the same seeds with ``train.item_dropout:
0.2``: the backbone trained to read an unseen id, the control of that name). A cell run
with another recipe (``RECIPES``) shares its table's item-dropout file. Writes
``lm_reach.json``: one cell per (data, backbone, slice, method, control) with the mean
paired AUC difference, the seeds where it is above 0 and the method's retention of the
gain network's lift, (method - backbone) / (gain - backbone), on that slice.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from reporting.sources import RESULTS, ROOT, source

DROPOUT = "backbone_item_dropout"  # the backbone trained with train.item_dropout 0.2
SERVED = ["item_gen", "vanilla_gen", "item_gen_item_dropout", "vanilla_tail", "tail_gen",
          "vanilla", "item_lm", "words"]
CONTROLS = ["backbone", DROPOUT, "ensemble_distilled", "ensemble_tail", "words", "vanilla"]
TITLES = {"synth_words": "synthetic, title words are the appeal",
          "synth_meaning": "synthetic, title meaning is the appeal (varied wordings)",
          "ml100k-cold-item": "MovieLens-100K, cold-item (every test item new)",
          "ml100k-cold-item-pool": "MovieLens-100K, cold-item-pool (every test item new, "
                                   "half of their rows given unlabeled)",
          "ml100k-random": "MovieLens-100K, random",
          "synth_meaning_alpha0": "synthetic, title meaning is the appeal, the students "
                                  "distilled with `distill.alpha: 0`"}
# a cell run with another recipe: lm_reach_<data><suffix>_<backbone>.json; its backbone
# and item-dropout networks are the recipe's own, or the item-dropout companion of <data>'s
RECIPES = ("_alpha0",)
HEAD = ["gain", "words", "item_lm", "vanilla", "item_gen", "vanilla_gen", "vanilla_tail",
        "tail_gen", "ensemble_tail", DROPOUT, "item_gen_item_dropout"]


def _command(data: dict) -> str:
    """The command that wrote a file: as it recorded it, or from what it holds."""
    if "command" in data:
        return data["command"]
    cfg, methods = data["config"], list(data["seeds"][0]["auc"])
    sets = ([f"--set model.name={cfg['model']['name']}"] if cfg["model"]["name"] != "deepfm"
            else []) + ([f"--set train.item_dropout={cfg['train']['item_dropout']}"]
                        if cfg["train"]["item_dropout"] else [])
    return " ".join([f"python benchmarks/synth_quality.py --rows {data['rows']} --seeds "
                     f"{len(data['seeds'])} --titles {data['titles']} --methods "
                     f"{','.join(methods)}", *sets])


def runs() -> list[dict]:
    """Every cell's file with its per-seed AUCs (method -> slice -> [per seed]); the
    item-dropout companion's methods joined under their own names."""
    found = []
    for path in sorted(RESULTS.glob("lm_reach_*.json")):
        if path.name == "lm_reach.json" or path.stem.endswith("_item-dropout"):
            continue
        data = json.loads(path.read_text())
        data_name, backbone = path.stem.removeprefix("lm_reach_").rsplit("_", 1)
        seeds = {s["seed"]: dict(s["auc"]) for s in data["seeds"]}
        sources = {path.name: _command(data)}
        companion = path.with_name(f"{path.stem}_item-dropout.json")
        for suffix in RECIPES:  # the recipe changes no network without a teacher
            if not companion.is_file() and data_name.endswith(suffix):
                companion = path.with_name(f"lm_reach_{data_name.removesuffix(suffix)}_"
                                           f"{backbone}_item-dropout.json")
        if companion.is_file():
            other = json.loads(companion.read_text())
            sources[companion.name] = _command(other)
            for s in other["seeds"]:
                if s["seed"] in seeds:
                    for method, aucs in s["auc"].items():
                        name = DROPOUT if method == "backbone" else f"{method}_item_dropout"
                        seeds[s["seed"]][name] = aucs
        split = data["config"]["data"]["split"]
        found.append({"path": path, "data": data_name, "backbone": backbone, "file": data,
                      "protocol": "random" if split == "files" else split,
                      "seeds": seeds, "sources": sources})
    return found


def _slices(run: dict) -> list[str]:
    """The slices a run shows: all rows, and rare and new where they are fewer (on a
    cold-item split every test row is of a new item: one slice)."""
    file = run["file"]
    return ["all", *(s for s in ("rare", "new")
                     if file.get(f"{s}_test_rows", 0) < file["test_rows"])]


def _paired(seeds: dict, method: str, control: str, rows: str) -> list[float]:
    return [auc[method][rows] - auc[control][rows] for auc in seeds.values()
            if method in auc and control in auc]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def retention(seeds: dict, method: str, rows: str) -> float | None:
    lift = _mean(_paired(seeds, "gain", "backbone", rows))
    kept = _mean(_paired(seeds, method, "backbone", rows))
    # a share of a lift within noise says nothing: n/a under 0.001
    return None if lift is None or kept is None or lift < 0.001 else kept / lift


def cells() -> list[dict]:
    out = []
    for run in runs():
        for rows in _slices(run):
            for method in SERVED:
                for control in CONTROLS:
                    diffs = _paired(run["seeds"], method, control, rows)
                    if method == control or not diffs:
                        continue
                    kept = retention(run["seeds"], method, rows)
                    out.append({"data": run["data"], "backbone": run["backbone"],
                                "protocol": run["protocol"], "slice": rows, "method": method,
                                "control": control, "mean": round(_mean(diffs), 5),
                                "wins": sum(d > 0 for d in diffs), "seeds": len(diffs),
                                "retention": None if kept is None else round(kept, 3)})
    return out


def write_reach() -> Path | None:
    """benchmarks/results/lm_reach.json from the lm_reach_* files (None without any)."""
    found = runs()
    if not found:
        return None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    path = RESULTS / "lm_reach.json"
    path.write_text(json.dumps({
        "commit": commit, "command": "python benchmarks/report.py",
        "sources": {name: command for run in found for name, command in run["sources"].items()},
        "cells": cells()}, indent=2) + "\n")
    return path


def _delta(seeds: dict, method: str, control: str, rows: str) -> str:
    diffs = _paired(seeds, method, control, rows)
    if not diffs:
        return ""
    return f"{_mean(diffs):+.4f} ({sum(d > 0 for d in diffs)}/{len(diffs)})"


def reach_table(readme: bool = False) -> list[str]:
    """Per table, backbone and slice: every method against the backbone; then the
    generated embeddings against each control, and their retention."""
    found = runs()
    if not found:
        return []
    shown = [m for m in HEAD if any(m in s for run in found for s in run["seeds"].values())]
    out = ["| table | backbone | slice | " + " | ".join(f"`{m}`" for m in shown) + " |",
           "|---|---|---|" + "---|" * len(shown)]
    for run in found:
        for rows in _slices(run):
            out.append(f"| {TITLES.get(run['data'], run['data'])} | {run['backbone']} | {rows} | "
                       + " | ".join(_delta(run["seeds"], m, "backbone", rows) for m in shown)
                       + " |")
    against = [c for c in CONTROLS if c != "backbone"]
    out += ["", "| table | backbone | slice | method | " + " | ".join(
        f"- `{c}`" for c in against) + " | retention |", "|---|---|---|---|"
        + "---|" * (len(against) + 1)]
    for run in found:
        for rows in _slices(run):
            for method in ("item_gen", "vanilla_gen", "vanilla_tail", "tail_gen",
                           "item_gen_item_dropout"):
                if not _paired(run["seeds"], method, "backbone", rows):
                    continue
                kept = retention(run["seeds"], method, rows)
                out.append(f"| {TITLES.get(run['data'], run['data'])} | {run['backbone']} | "
                           f"{rows} | `{method}` | " + " | ".join(
                               _delta(run["seeds"], method, c, rows) for c in against)
                           + f" | {'n/a' if kept is None else f'{kept:.0%}'} |")
    files = "; ".join(source(run["path"], run["file"]["environment"]) for run in found)
    return [("#### " if not readme else "") + "Where the LM reaches rare and new items "
            f"(test AUC, paired differences with the seeds they hold in; {files})", "",
            "Rare: test rows of items with fewer than 10 training rows; new: of items with "
            "none. The first table is every network against the backbone; the second, the "
            "generated item embeddings against each control, and their retention, (method - "
            "backbone) / (gain - backbone) on the slice: above 100% the served network beats "
            "the gain network there; n/a where the gain network is not 0.001 above the backbone. "
            "`backbone_item_dropout` is the backbone trained with `train.item_dropout: 0.2`, "
            "`item_gen_item_dropout` item_gen on it.", "", *out, ""]
