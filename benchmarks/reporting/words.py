"""The no-LM words control (``words``) beside ``item_lm`` on the synthetic tables
(words_control_synth_<titles>.json: benchmarks/synth_quality.py --methods
backbone,words,item_lm [--titles meaning])."""

from __future__ import annotations

import json
from pathlib import Path

from elec.report.quality import cell
from reporting.sources import RESULTS, source

PAIRS = ["words - backbone", "item_lm - backbone", "item_lm - words"]
TITLES = {"words": "titles whose words are the appeal",
          "meaning": "titles whose attributes are the appeal, in varied wordings"}


def files() -> list[tuple[Path, dict]]:
    return [(p, json.loads(p.read_text()))
            for p in sorted(RESULTS.glob("words_control_synth_*.json"))]


def _slices(data: dict) -> list[str]:
    return [s for s in ("all", "rare", "new") if s in data["summary"]]


def words_control_section() -> list[str]:
    """A table per file: each slice's test AUC of backbone, words and item_lm, and their
    paired differences."""
    out = []
    for path, data in files():
        n = len(data["seeds"])
        achievable = data.get("achievable_test_slices") or {}
        best = ", ".join(f"{s} {v['achievable_auc']:.4f} ({v['achievable_auc_without_appeal']:.4f}"
                         f" without the appeal)" for s, v in achievable.items())
        shown = [m for m in ("backbone", "words", "item_lm") if m in data["summary"]["all"]]
        pairs = [p for p in PAIRS if p in data["summary"]["all"]]
        out += [f"#### The words control on the synthetic table, {TITLES[data['titles']]} "
                f"({source(path, data['environment'])}; {data['rows']:,} rows, {n} seeds; "
                f"rare: the {data['rare_test_rows']:,} test rows of items with fewer than "
                f"{data['rare_below_training_rows']} training rows; new: the "
                f"{data['new_test_rows']:,} of items with none; achievable test AUC: all "
                f"{data['achievable_test_auc']:.4f}" + (f", {best}" if best else "") + ")", "",
                "| slice | " + " | ".join(shown + pairs) + " |",
                "|---|" + "---|" * len(shown + pairs)]
        for rows in _slices(data):
            part = data["summary"][rows]
            out.append(f"| {rows} | " + " | ".join(cell(part[m]) for m in shown) + " | "
                       + " | ".join(f"{part[p]['mean']:+.4f} ({part[p]['positive']}/{n})"
                                    for p in pairs) + " |")
        out.append("")
    return (["### The words control (no LM) on the synthetic tables", "",
             "`words` is `item_lm` with the item text's plain words in place of the LM's "
             "vector of it; `item_lm - words` is what the LM knows beyond the words.", "",
             *out]) if out else []


def words_control_lines() -> list[str]:
    """One README line per file: item_lm against the words control, per slice."""
    lines = []
    for _, data in files():
        n = len(data["seeds"])
        said = [f"`{pair.replace(' - ', '` - `')}`: " + ", ".join(
                    f"{rows} {data['summary'][rows][pair]['mean']:+.4f} "
                    f"({data['summary'][rows][pair]['positive']}/{n})" for rows in _slices(data))
                for pair in ("item_lm - words", "words - backbone")
                if pair in data["summary"]["all"]]
        lines.append(f"- The no-LM words control on the synthetic table with "
                     f"{TITLES[data['titles']]} ({data['rows']:,} rows, {n} seeds; test rows: "
                     f"all, rare items', new items'): " + "; ".join(said) + ".")
    return lines
