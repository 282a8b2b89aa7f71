"""The other uses of the LM beside ELEC (item_lm, field_lm, vanilla_item): the table of
which served model pays where, the lm_uses_*.json tables, the field_lm control and the
synthetic table's item lines."""

from __future__ import annotations

import json
from pathlib import Path

from elec import deltas_table, methods_table, paired
from reporting.new_items import item_dropout_results
from reporting.sources import RESULTS, protocol_key, source


def lm_uses() -> list[tuple[str, str, dict]]:
    """(source, protocol, summary) of every benchmark of the other uses of the LM
    (lm_uses_*.json: elec bench quality with item_lm beside the backbone)."""
    out = []
    for path in sorted(RESULTS.glob("lm_uses_*.json")):
        summary = json.loads(path.read_text())
        for protocol in summary["protocols"]:
            out.append((source(path, summary["environment"]), protocol, summary))
    return out


def lm_uses_tables() -> list[str]:
    parts = []
    for where, protocol, summary in lm_uses():
        n = len(summary["protocols"][protocol]["seeds"])
        parts += [f"### {summary['backbone']}, {protocol} split, {n} seeds ({where})", "",
                  methods_table(summary, protocol), "", deltas_table(summary, protocol), ""]
    return (["## Other uses of the LM", "", "`item_lm`: the backbone with the LM vector of "
             "the item's own text (its title, genres, ...) as one more field; a new item has "
             "it from its text before its first row. `field_lm`: the backbone whose embedding "
             "of each value in the text adds the projected LM vector of the value's sentence "
             "(\"Occupation is writer.\"), served as a plain backbone. What was tried for new "
             "items is in [new-items.md](new-items.md).", "", *parts,
             *(["Is `field_lm`'s gain the LM's? Against a twin whose values' LM vectors are "
                "permuted (`python benchmarks/field_lm_control.py`):", "",
                *field_control_lines(docs=True), ""] if field_controls() else [])]
            ) if parts else []


LM_USES = {"item_lm": "the item-level LM vectors (`item_lm`)",
           "field_lm": "the field-level LM vectors (`field_lm`)",
           "vanilla_item": "ELEC's student with the item-level LM vectors (`vanilla_item`)"}


def field_controls() -> list[tuple[Path, dict]]:
    return [(p, json.loads(p.read_text()))
            for p in sorted(RESULTS.glob("field_lm_control_*.json"))]


def field_control_lines(docs: bool) -> list[str]:
    """field_lm against its twin whose values' LM vectors are permuted (no meaning)."""
    lines = []
    for path, data in field_controls():
        d = data["deltas"]
        where = f" ({source(path, data['environment'])})" if docs else ""
        lines.append(
            f"- {data['backbone']}, {data['protocol']}: `field_lm` - backbone "
            f"{d['field_lm - backbone']['mean']:+.4f} "
            f"({d['field_lm - backbone']['positive']}/{d['field_lm - backbone']['seeds']}); "
            f"its twin with the values' LM vectors permuted - backbone "
            f"{d['field_lm_shuffled - backbone']['mean']:+.4f} "
            f"({d['field_lm_shuffled - backbone']['positive']}/"
            f"{d['field_lm_shuffled - backbone']['seeds']}); the LM's meaning, `field_lm` - "
            f"twin: {d['field_lm - field_lm_shuffled']['mean']:+.4f} "
            f"({d['field_lm - field_lm_shuffled']['positive']}/"
            f"{d['field_lm - field_lm_shuffled']['seeds']}){where}.")
    return lines


def delta_of(quality: dict[str, dict], backbone: str, protocol: str, pair: str) -> dict | None:
    """A paired difference from the per-method file, else from an lm_uses file."""
    found = quality.get(backbone, {}).get("protocols", {}).get(protocol, {}).get(
        "deltas", {}).get(pair)
    for _, where, summary in lm_uses():
        if found is None and summary["backbone"] == backbone and where == protocol:
            found = summary["protocols"][protocol]["deltas"].get(pair)
    return found


def lm_uses_summary(quality: dict[str, dict], every_cell: bool = True) -> list[str]:
    """Each other use of the LM against the backbone and, where trained beside it, against
    ELEC's vanilla network (``every_cell``; the README has the table instead); the
    controls and the synthetic table."""
    lines = []
    cells = uses_cells(quality) if every_cell else {}
    for backbone, use in sorted(cells, key=lambda key: (key[0], list(LM_USES).index(key[1])
                                                        if key[1] in LM_USES else -1)):
        row = cells[backbone, use]
        if use not in LM_USES:
            continue
        for protocol, delta in sorted(row.items(), key=lambda kv: protocol_key(kv[0])):
            aim = ("; the aim on new items is +0.005 in every seed"
                   if protocol == "cold-item" else "")
            text = (f"- {backbone}, {protocol}: {LM_USES[use]} against the backbone "
                    f"{delta['mean']:+.4f} AUC ({delta['positive']}/{delta['seeds']} seeds{aim})")
            vanilla = delta_of(quality, backbone, protocol, f"{use} - vanilla")
            if vanilla:
                text += (f", against ELEC's vanilla network {vanilla['mean']:+.4f} "
                         f"({vanilla['positive']}/{vanilla['seeds']})")
            lines.append(text + ".")
    lines += field_control_lines(docs=False)
    return (["Other uses of the LM:", "", *lines, ""]) if lines else []


USES = [("vanilla", "ELEC's vanilla network (the LM in training only)"),
        ("item_lm", "`item_lm`: an LM vector per item, looked up at serving"),
        ("field_lm", "`field_lm`: an LM vector per field value, folded into the embeddings"),
        ("vanilla_item", "`vanilla_item`: ELEC's student with the item's LM vector, looked up"),
        ("item_dropout 0.2", "no LM: `train.item_dropout: 0.2`"),
        ("vanilla + item_dropout 0.2", "ELEC's vanilla network with `train.item_dropout: 0.2`")]


def uses_cells(quality: dict[str, dict]) -> dict[tuple[str, str], dict[str, dict]]:
    """(backbone, use) -> protocol -> the use's paired test-AUC difference from the backbone
    trained beside it (same seeds, same file)."""
    cells: dict[tuple[str, str], dict[str, dict]] = {}
    for backbone, summary in quality.items():
        for protocol, part in summary["protocols"].items():
            for use in ("vanilla", *LM_USES):
                if f"{use} - backbone" in part["deltas"]:
                    cells.setdefault((backbone, use), {})[protocol] = \
                        part["deltas"][f"{use} - backbone"]
    for _, protocol, summary in lm_uses():  # where the per-method file lacks the use
        methods = summary["protocols"][protocol]["methods"]
        for use in LM_USES:
            if use in methods:
                cells.setdefault((summary["backbone"], use), {}).setdefault(protocol, paired(
                    methods[use]["test"]["auc"]["values"],
                    methods["backbone"]["test"]["auc"]["values"]))
    for _, data in item_dropout_results():  # against the backbone at rate 0, same file
        for protocol, rates in data["protocols"].items():
            for method, use in (("backbone", "item_dropout 0.2"),
                                ("vanilla", "vanilla + item_dropout 0.2")):
                if method in rates.get("0.2", {}):
                    cells.setdefault((data["backbone"], use), {}).setdefault(
                        protocol, rates["0.2"][method]["test - backbone at rate 0"])
    return cells


def uses_table(quality: dict[str, dict]) -> list[str]:
    """Which use of the LM pays where: each served model against the backbone."""
    cells = uses_cells(quality)
    if not any(use != "vanilla" for _, use in cells):
        return []
    protocols = sorted({p for row in cells.values() for p in row}, key=protocol_key)
    lines = ["| backbone | served model | " + " | ".join(protocols) + " |",
             "|---" * (2 + len(protocols)) + "|"]
    for backbone in sorted({b for b, _ in cells}):
        for use, what in USES:
            row = cells.get((backbone, use))
            if row:
                lines.append(f"| {backbone} | {what} | " + " | ".join(
                    f"{row[p]['mean']:+.4f} ({row[p]['positive']}/{row[p]['seeds']})"
                    if p in row else "" for p in protocols) + " |")
    return ["Which use of the LM pays where (test AUC against the backbone trained beside it, "
            "MovieLens-100K, mean over seeds and the seeds where higher; every figure's file "
            "is in docs/results.md). The vanilla network's row includes what distillation "
            "gives without any LM; the verdicts above separate the two:", "", *lines, ""]
