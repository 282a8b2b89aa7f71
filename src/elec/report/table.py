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
    """What ``elec run`` says last: where the results are, what the LM encoded, which
    network it would serve (the best validation AUC of those that need no LM) with its
    lift in this run, and the command that exports it."""
    texts = results["lm_texts"]
    methods = results["methods"]
    lines = [f"results: {out / 'results.json'}; LM texts: {texts['encoded']:,} encoded, "
             f"{texts['from_cache']:,} from the cache"]
    record = methods.get(served)
    if record is None:
        return "\n".join([*lines, f"to serve {served}: elec export {out} --out bundle"])
    lifts = [f"{record['test']['auc'] - methods[m]['test']['auc']:+.4f} test AUC over {m}"
             for m in ("backbone", "self_distilled") if m in methods and m != served]
    lines.append(f"to serve {served} (the highest validation AUC, {record['valid']['auc']:.4f}, "
                 f"of the networks that need no LM at serving"
                 + (f"; {', '.join(lifts)} in this run, where one seed moves AUC by about "
                    f"0.003: `elec bench quality` measures over seeds" if lifts else "")
                 + f"): elec export {out} --out bundle")
    return "\n".join(lines)
