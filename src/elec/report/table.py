"""The results table of one run, as a rich table for the terminal and as Markdown."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

COLUMNS = ("method", "what it is", "serves an LM?", "AUC", "logloss")


def rows(results: dict) -> list[tuple[str, ...]]:
    out = []
    for name, method in results["methods"].items():
        test = method["test"]
        out.append((name, method["what"], "yes" if method["serves_llm"] else "no",
                    f"{test['auc']:.4f}", f"{test['logloss']:.4f}"))
    return out


def rich_table(results: dict, title: str = "test split") -> Table:
    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in ("AUC", "logloss") else "left")
    for row in rows(results):
        table.add_row(*row)
    return table


def markdown(results: dict) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)


def closing_lines(results: dict, out: Path, served: str) -> str:
    """What ``elec run`` says last: where the results are, what the LM encoded, and the
    command that exports the network it serves by default."""
    texts = results["lm_texts"]
    valid = results["methods"].get(served, {}).get("valid", {}).get("auc")
    why = ("" if valid is None else
           f" (the highest validation AUC of the servable networks, {valid:.4f})")
    return (f"results: {out / 'results.json'}; LM texts: {texts['encoded']:,} encoded, "
            f"{texts['from_cache']:,} from the cache\nto serve {served}{why}: elec export "
            f"{out} --out bundle")
