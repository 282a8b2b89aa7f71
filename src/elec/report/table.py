"""The results table of one run, as a rich table for the terminal and as Markdown."""

from __future__ import annotations

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
