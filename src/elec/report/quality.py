"""Markdown tables of a quality benchmark summary (see ``elec.bench``)."""

from __future__ import annotations


def cell(stat: dict, digits: int = 4) -> str:
    if stat["mean"] is None:
        return "n/a"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def methods_table(summary: dict, protocol: str) -> str:
    part = summary["protocols"][protocol]
    slices = _slices(part["methods"].values())
    lines = ["| method | serves an LM? | test AUC | test logloss | test gAUC |"
             + "".join(f" {s} items' AUC |" for s in slices), "|---" * (5 + len(slices)) + "|"]
    for name, stats in part["methods"].items():
        test, sliced = stats["test"], stats.get("test_slices") or {}
        lines.append(f"| {name} | {'yes' if stats['serves_llm'] else 'no'} | "
                     f"{cell(test['auc'])} | {cell(test['logloss'])} | {cell(test['gauc'])} |"
                     + "".join(f" {cell(sliced[s]) if s in sliced else ''} |" for s in slices))
    return "\n".join(lines)


def deltas_table(summary: dict, protocol: str) -> str:
    """Paired differences of test AUC, on all rows and, where measured, on the rows of
    rare and new items."""
    part = summary["protocols"][protocol]
    slices = _slices(part["deltas"].values())
    lines = ["| paired difference (test AUC) | mean ± std | positive in |"
             + "".join(f" {s} items' rows |" for s in slices), "|---" * (3 + len(slices)) + "|"]
    for pair, delta in part["deltas"].items():
        lines.append(f"| {pair} | {delta['mean']:+.4f} ± {delta['std']:.4f} | "
                     f"{delta['positive']}/{delta['seeds']} seeds |"
                     + "".join(f" {_short(delta[s]) if s in delta else ''} |" for s in slices))
    return "\n".join(lines)


def _slices(parts) -> list[str]:
    found = {s for p in parts for s in (p.get("test_slices") or p)}
    return [s for s in ("rare", "new") if s in found]


def _short(delta: dict) -> str:
    return f"{delta['mean']:+.4f} ({delta['positive']}/{delta['seeds']})"


def markdown(summary: dict) -> str:
    parts = [f"## {summary['backbone']} with {summary['llm']}"]
    for protocol, part in summary["protocols"].items():
        parts += [f"### {protocol} split ({len(part['seeds'])} seeds)",
                  methods_table(summary, protocol), "", deltas_table(summary, protocol)]
    return "\n\n".join(parts) + "\n"


def zoo_table(backbones: dict[str, dict]) -> str:
    """One row per backbone from its random-split summary (``summarise`` output), with a
    source column when the parts carry a ``source`` key."""
    sourced = any("source" in part for part in backbones.values())
    header = ("| backbone | backbone | self_distilled | gain | vanilla | "
              "vanilla - self_distilled | vanilla - backbone |" + (" source |" if sourced else ""))
    lines = [header, "|---" * (7 + sourced) + "|"]
    for name, part in backbones.items():
        cells = [cell(part["methods"][m]["test"]["auc"])
                 for m in ("backbone", "self_distilled", "gain", "vanilla")]
        for other in ("self_distilled", "backbone"):
            delta = part["deltas"][f"vanilla - {other}"]
            cells.append(f"{delta['mean']:+.4f} ({delta['positive']}/{delta['seeds']})")
        if sourced:
            cells.append(part.get("source", ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
