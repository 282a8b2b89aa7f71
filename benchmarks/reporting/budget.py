"""The LM budget curve: gain and vanilla test AUC against ``llm.budget`` (the share of
training rows that get an LM vector), paired by seed with the same runs at budget 1.

Reads ``lm_budget_<data>_<backbone>_<budget>.json`` (benchmarks/synth_quality.py with
``--set llm.budget=<budget>``) and, for budget 1, ``lm_reach_<data>_<backbone>.json``
(the same configuration and seeds).
"""

from __future__ import annotations

import json

from reporting.sources import RESULTS, source

METHODS = ("gain", "vanilla")


def curves() -> dict[tuple[str, str], dict[float, dict]]:
    """(data, backbone) -> budget -> {seed: {method: all-rows test AUC}}, with the file."""
    found: dict[tuple[str, str], dict[float, dict]] = {}
    for path in sorted(RESULTS.glob("lm_budget_*.json")):
        data, backbone, budget = path.stem.removeprefix("lm_budget_").rsplit("_", 2)
        file = json.loads(path.read_text())
        full = RESULTS / f"lm_reach_{data}_{backbone}.json"
        cell = found.setdefault((data, backbone), {})
        if full.is_file() and 1.0 not in cell:
            reference = json.loads(full.read_text())
            cell[1.0] = {"path": full, "file": reference, "seeds": _seeds(reference)}
        cell[float(budget)] = {"path": path, "file": file, "seeds": _seeds(file)}
    return found


def _seeds(file: dict) -> dict[int, dict[str, float]]:
    return {s["seed"]: {m: s["auc"][m]["all"] for m in METHODS if m in s["auc"]}
            for s in file["seeds"]}


def budget_table() -> list[str]:
    """Per (data, backbone): one row per budget, each method's mean test AUC and its
    paired difference from budget 1 (with the seeds where it is above)."""
    out = []
    for (data, backbone), by_budget in curves().items():
        full = by_budget.get(1.0)
        rows = ["| `llm.budget` | training rows encoded | " + " | ".join(
            f"`{m}` AUC | `{m}` - budget 1" for m in METHODS) + " |",
                "|---|---|" + "---|---|" * len(METHODS)]
        for budget in sorted(by_budget, reverse=True):
            seeds = by_budget[budget]["seeds"]
            cells = []
            for m in METHODS:
                aucs = [a[m] for a in seeds.values() if m in a]
                diffs = ([a[m] - full["seeds"][s][m] for s, a in seeds.items()
                          if full and s in full["seeds"] and m in a]
                         if budget != 1.0 else [])
                cells += [f"{sum(aucs) / len(aucs):.4f}" if aucs else "",
                          f"{sum(diffs) / len(diffs):+.4f} ({sum(d > 0 for d in diffs)}/"
                          f"{len(diffs)})" if diffs else ""]
            rows.append(f"| {budget:g} | {budget:.0%} | " + " | ".join(cells) + " |")
        files = "; ".join(source(b["path"], b["file"]["environment"])
                          for b in by_budget.values())
        out += [f"#### The LM budget: {data}, {backbone} (test AUC, all rows; paired with "
                f"budget 1 by seed; {files})", "",
                "Only the chosen training rows' texts go through the LM (every item's rows "
                "in turn); the valid and test rows always do. The other training rows read "
                "no LM field.", "", *rows, ""]
        out += [f"Budget {b:g}: {v['file']['conditions']}." for b, v in by_budget.items()
                if v["file"].get("conditions")]
        out += [""] if out[-1] != "" else []
    return out
