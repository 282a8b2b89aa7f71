"""Splits: which rows train, select (valid) and test each network, and which are the
unlabeled pool that distillation learns from. One home for their names."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from elec.config import DataConfig
from elec.errors import DataError

SPLITS = ("train", "valid", "test")  # labelled splits
EVALUATED = ("valid", "test")  # where every network's metrics are reported
POOL = "pool"  # unlabeled rows (features only), used by distillation
TAIL = "tail"  # synthetic unlabeled rows of rare items (elec.distill.tail)


def _cold_item_split(table: pa.Table, cfg: DataConfig, rng: np.random.Generator
                     ) -> dict[str, np.ndarray]:
    """Whole items, in random order, go to test, then valid, until each holds its share
    of the rows; the rest of the items are the training rows."""
    if cfg.item_column not in table.column_names:
        raise DataError(f"the cold-item split needs the item column {cfg.item_column!r}")
    items = np.asarray(table[cfg.item_column].to_numpy(zero_copy_only=False)).astype(str)
    unique, item_of_row, counts = np.unique(items, return_inverse=True, return_counts=True)
    order = rng.permutation(len(unique))
    cumulative = np.cumsum(counts[order]) / len(items)
    test_items = order[cumulative <= cfg.fractions[2]]
    valid_items = order[(cumulative > cfg.fractions[2])
                        & (cumulative <= cfg.fractions[2] + cfg.fractions[1])]
    part = np.zeros(len(unique), dtype=np.int8)  # 0 train, 1 valid, 2 test
    part[valid_items], part[test_items] = 1, 2
    row_part = part[item_of_row]
    return {name: np.flatnonzero(row_part == k) for k, name in enumerate(SPLITS)}


def _with_pool(parts: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Half of the valid and of the test rows (drawn at random) become the unlabeled pool:
    the new items' or the later period's impressions, shown before their clicks come in."""
    pooled = []
    for split in ("valid", "test"):
        rows = rng.permutation(parts[split])
        half = len(rows) // 2
        pooled.append(rows[:half])
        parts[split] = np.sort(rows[half:])
    parts[POOL] = np.sort(np.concatenate(pooled))
    return parts


def split_indices(table: pa.Table, cfg: DataConfig) -> dict[str, np.ndarray]:
    """Row indices of train / valid / test (and the unlabeled pool of the *-pool splits):
    random (seeded), temporal or cold-item."""
    n = table.num_rows
    rng = np.random.default_rng(cfg.split_seed)
    if cfg.split == "cold-item":
        return _cold_item_split(table, cfg, rng)
    if cfg.split == "cold-item-pool":
        return _with_pool(_cold_item_split(table, cfg, rng), rng)
    if cfg.split == "temporal-pool":
        return _with_pool(split_indices(table, cfg.model_copy(update={"split": "temporal"})),
                          rng)
    if cfg.split == "random":
        order = rng.permutation(n)
    else:
        if cfg.time_column not in table.column_names:
            raise DataError(f"temporal split needs the time column {cfg.time_column!r}")
        order = np.argsort(table[cfg.time_column].to_numpy(), kind="stable")
    n_train = int(round(cfg.fractions[0] * n))
    n_valid = int(round(cfg.fractions[1] * n))
    return {"train": np.sort(order[:n_train]) if cfg.split == "random" else order[:n_train],
            "valid": order[n_train:n_train + n_valid],
            "test": order[n_train + n_valid:]}
