"""The results table of one run, as a rich table for the terminal and as Markdown."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

COLUMNS = ("method", "what it is", "serves an LM?", "AUC", "logloss")
SLICES = {"rare": "rare items' AUC", "new": "new items' AUC"}


def sliced(results: dict) -> list[str]:
    """The item slices some method of the run was scored on (``Run.sliced``)."""
    return [s for s in SLICES
            if any(s in (m.get("test_slices") or {}) for m in results["methods"].values())]


def columns(results: dict) -> tuple[str, ...]:
    return (*COLUMNS, *(SLICES[s] for s in sliced(results)))


def rows(results: dict) -> list[tuple[str, ...]]:
    out = []
    slices = sliced(results)
    for name, method in results["methods"].items():
        test, parts = method["test"], method.get("test_slices") or {}
        out.append((name, method["what"], "yes" if method["serves_llm"] else "no",
                    f"{test['auc']:.4f}", f"{test['logloss']:.4f}",
                    *(f"{parts[s]['auc']:.4f}" if s in parts else "" for s in slices)))
    return out


def slices_note(results: dict) -> str:
    """What the slice columns count (empty: no slice)."""
    sizes = {}
    for method in results["methods"].values():
        for s, part in (method.get("test_slices") or {}).items():
            sizes[s] = part["rows"]
    below = results.get("config", {}).get("distill", {}).get("tail_below", 10)
    said = {"rare": f"rare: the {sizes.get('rare', 0):,} test rows of items with under "
                    f"{below} training rows", "new": f"new: the {sizes.get('new', 0):,} of "
                                                     f"items with none"}
    return "; ".join(said[s] for s in sizes)


def rich_table(results: dict, title: str = "test split") -> Table:
    note = slices_note(results)
    table = Table(title=title, caption=note or None)
    numbers = ("AUC", "logloss", *SLICES.values())
    for column in columns(results):
        table.add_column(column, justify="right" if column in numbers else "left")
    for row in rows(results):
        table.add_row(*row)
    return table


def markdown(results: dict) -> str:
    head = columns(results)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    note = slices_note(results)
    return "\n".join(lines) + (f"\n\n{note[0].upper()}{note[1:]}." if note else "")


def closing_lines(results: dict, out: Path) -> str:
    """What ``elec run`` says last: where the results are, what the LM encoded, and the
    verdict on what to serve (``results["served"]``, ``elec.report.verdict``)."""
    from elec.report.verdict import verdict_lines

    texts = results["lm_texts"]
    lines = [f"results: {out / 'results.json'}; LM texts: {texts['encoded']:,} encoded, "
             f"{texts['from_cache']:,} from the cache"]
    return "\n".join([*lines, *verdict_lines(results["served"], out)])
