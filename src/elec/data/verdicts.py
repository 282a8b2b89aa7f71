"""What ``elec init`` checks in each proposed column before it proposes it: an index or
key (nothing to learn), a column that gives the label away (a leak), which id columns
are the user and the item (by name, else by shape: the item is the id a title depends
on), and how much of a row's text the LM will read."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

UNNAMED = re.compile(r"^(|unnamed:? ?\d*|__index_level_\d+__|_ex_level_\d+__|level_0|index)$",
                     re.I)
LEAK_AUC = 0.95  # a column that alone ranks the clicks this well is taken for a leak
TOKENS_PER_WORD = 1.4  # a rough count of MiniLM's word pieces


def unnamed(name: str) -> bool:
    """A column without a name of its own: an index a table was written with."""
    return bool(UNNAMED.match(name.strip()))


def key_verdict(column: pa.ChunkedArray) -> str | None:
    """Why a categorical or numeric ``column`` is an index or a key, to leave out (None:
    it is not one): (nearly) every row has a value of its own."""
    rows = len(column) - column.null_count
    numbers = pa.types.is_integer(column.type)
    strings = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    if rows >= 50 and (numbers or strings):
        distinct = pc.count_distinct(column).as_py()
        if distinct >= 0.98 * rows:
            return (f"{distinct:,} distinct values in {rows:,} rows: an index or a key, "
                    f"nothing a model can learn from")
    return None


def single_column_auc(column: pa.ChunkedArray, clicked: np.ndarray) -> float | None:
    """How well ``column`` alone ranks the clicks (max(AUC, 1 - AUC)): numbers by value,
    categories of at most 1,000 values by their click rate in the sample."""
    kind = column.type
    valid = ~np.asarray(pc.is_null(column).to_numpy(zero_copy_only=False), dtype=bool)
    if valid.sum() < 50 or pa.types.is_list(kind):
        return None
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        score = column.to_numpy(zero_copy_only=False)[valid].astype(np.float64)
    else:
        values = np.asarray(pc.cast(column, pa.string()).to_numpy(zero_copy_only=False))[valid]
        keys, codes = np.unique(values.astype(str), return_inverse=True)
        if len(keys) > min(1000, valid.sum() / 20):  # too few rows a value to tell
            return None
        score = (np.bincount(codes, clicked[valid]) / np.bincount(codes))[codes]
    auc = rank_auc(score, clicked[valid])
    return None if auc is None else max(auc, 1 - auc)


def rank_auc(score: np.ndarray, label: np.ndarray) -> float | None:
    """The AUC of ``score`` for the 0/1 ``label`` (ties count half)."""
    positives = int(label.sum())
    negatives = len(label) - positives
    if not positives or not negatives:
        return None
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2)[inverse]  # average rank, 1-based
    return float((ranks[label == 1].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def depends_on(table: pa.Table, key: str, other: str) -> bool:
    """Whether ``other`` has (nearly) one value per value of ``key``, where ``key`` has
    repeats: what an item's title does to the item id."""
    pairs = table.select([key, other]).drop_null()
    if pairs.num_rows < 50:
        return False
    keys = pc.count_distinct(pairs[key]).as_py()
    if keys > 0.5 * pairs.num_rows:
        return False
    both = pairs.group_by([key, other]).aggregate([]).num_rows
    return both <= 1.05 * keys


def text_share_cut(table: pa.Table, shown: list[str], max_tokens: int = 128) -> float:
    """About what share of the rows' texts (``shown`` fields, each "<Field> is <value>.")
    is longer than the LM reads (``llm.max_length``)."""
    if not shown or not table.num_rows:
        return 0.0
    tokens = np.zeros(table.num_rows)
    for name in shown:
        words = np.array([-1 if v is None else len(" ".join(map(str, v)).split())
                          if isinstance(v, list) else len(str(v).split())
                          for v in table[name].to_pylist()])
        tokens += np.where(words < 0, 0, TOKENS_PER_WORD * (words + len(name.split("_")) + 1))
    return float((tokens > max_tokens).mean())
