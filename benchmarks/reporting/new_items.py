"""New items: `train.item_dropout` by rate and split (item_dropout_*.json), for the backbone
alone or with ELEC's networks."""

from __future__ import annotations

import json
from pathlib import Path

from reporting.sources import RESULTS, protocol_key, source


def item_dropout_results() -> list[tuple[Path, dict]]:
    """item_dropout_*.json: benchmarks/item_dropout.py, train.item_dropout per rate/split."""
    return [(p, json.loads(p.read_text())) for p in sorted(RESULTS.glob("item_dropout_*.json"))]


def item_dropout_section() -> list[str]:
    parts = []
    for path, data in item_dropout_results():
        protocols = sorted(data["protocols"], key=protocol_key)
        n = len(data["seeds"])
        for method in data["methods"]:
            parts += [f"#### {data['backbone']} `{method}`, test AUC by `train.item_dropout` "
                      f"({n} seeds; against the same method at rate 0: mean, seeds where "
                      f"higher; {source(path, data['environment'])})", "",
                      "| rate | " + " | ".join(f"{p} | vs 0" for p in protocols) + " |",
                      "|---" * (1 + 2 * len(protocols)) + "|"]
            for rate in (f"{r:g}" for r in data["rates"]):
                cells = []
                for p in protocols:
                    row = data["protocols"][p].get(rate, {}).get(method)
                    if row is None:
                        cells += ["", ""]
                        continue
                    delta = row["test - rate 0"]
                    cells += [f"{row['test']['mean']:.4f} ± {row['test']['std']:.4f}",
                              "" if rate == "0" else
                              f"{delta['mean']:+.4f} ({delta['positive']}/{delta['seeds']})"]
                parts.append(f"| {rate} | " + " | ".join(cells) + " |")
            parts += ["", f"`{data['command']}`", ""]
    return (["## New items: the item id read as unseen in training", "",
             "`train.item_dropout`: in that fraction of training rows (drawn anew every "
             "batch) every network reads the item id as the out-of-vocabulary id, the id a "
             "new item has at serving, and learns to score the row from its other fields. "
             "On the cold-item split every test item is new, on random none, on temporal "
             "some.", "", *parts]) if parts else []


SUMMARISED = {"backbone": "backbone", "vanilla": "ELEC's vanilla network"}


def item_dropout_summary() -> list[str]:
    """Per file and rate: the backbone (files of the backbone alone) and ELEC's vanilla
    network against themselves at rate 0."""
    lines = []
    for _, data in item_dropout_results():
        # a file of ELEC's methods: its vanilla network (its backbone is told elsewhere)
        methods = ["vanilla"] if "vanilla" in data["methods"] else [
            m for m in SUMMARISED if m in data["methods"]]
        for method in methods:
            for rate in (f"{r:g}" for r in data["rates"][1:]):
                cells = []
                for p in sorted(data["protocols"], key=protocol_key):
                    row = data["protocols"][p].get(rate, {}).get(method)
                    if row:
                        d = row["test - rate 0"]
                        cells.append(f"{p} {d['mean']:+.4f} ({d['positive']}/{d['seeds']})")
                lines.append(f"- {data['backbone']} {SUMMARISED[method]}, `train.item_dropout: "
                             f"{rate}` against 0: " + ", ".join(cells) + ".")
    return (["New items: the item id read as unseen in a fraction of training rows "
             "(test AUC against the same network trained without it; seeds where higher):",
             "", *lines, ""]) if lines else []
