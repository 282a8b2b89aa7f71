"""Turn a configured data source into one table of samples and a 0/1 label."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from elec.config import DataConfig, FieldSpec
from elec.data import movielens
from elec.errors import DataError

BUILTIN = {movielens.NAME: movielens}


def _read_file(path: Path) -> pa.Table:
    if path.suffix == ".parquet":
        return pq.read_table(path)
    if path.suffix in (".csv", ".tsv"):
        delimiter = "\t" if path.suffix == ".tsv" else ","
        return pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter))
    raise DataError(f"data.dataset {str(path)!r}: expected a .parquet, .csv or .tsv file")


def load_table(cfg: DataConfig, log: Callable[[str], None] = print) -> pa.Table:
    """All samples of the configured dataset, one row each (not yet split)."""
    if cfg.dataset in BUILTIN:
        source = BUILTIN[cfg.dataset]
        return source.samples(source.load_tables(source.fetch(log=log)), history=cfg.history)
    path = Path(cfg.dataset)
    if not path.is_file():
        raise DataError(f"data.dataset {cfg.dataset!r} is neither a built-in dataset "
                        f"({', '.join(BUILTIN)}) nor an existing file")
    return _read_file(path)


def check_fields(table: pa.Table, fields: list[FieldSpec], cfg: DataConfig) -> None:
    """Stop early, with the name, if the config asks for a column the data lacks."""
    available = set(table.column_names)
    for name in [f.name for f in fields] + [cfg.label]:
        if name not in available:
            raise DataError(f"field {name!r} from the config is not a column of "
                            f"{cfg.dataset!r}; its columns are: {', '.join(table.column_names)}")


def labels(table: pa.Table, cfg: DataConfig) -> np.ndarray:
    """The 0/1 click label as float32; a non-binary label column is an error."""
    column = table[cfg.label]
    if column.null_count:
        raise DataError(f"label column {cfg.label!r} has {column.null_count} missing values")
    if cfg.label_threshold is not None:
        return pc.greater_equal(column, cfg.label_threshold).to_numpy().astype(np.float32)
    values = column.to_numpy(zero_copy_only=False)
    bad = ~np.isin(values, [0, 1])
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"label column {cfg.label!r} row {row:,}: expected 0 or 1, got "
                        f"{values[row].item()!r}; set data.label_threshold to binarise it")
    return values.astype(np.float32)


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
    return {name: np.flatnonzero(row_part == k) for k, name in enumerate(SPLIT_NAMES)}


SPLIT_NAMES = ("train", "valid", "test")


def _with_pool(parts: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Half of the valid and of the test rows (drawn at random) become the unlabeled pool:
    the new items' or the later period's impressions, shown before their clicks come in."""
    pooled = []
    for split in ("valid", "test"):
        rows = rng.permutation(parts[split])
        half = len(rows) // 2
        pooled.append(rows[:half])
        parts[split] = np.sort(rows[half:])
    parts["pool"] = np.sort(np.concatenate(pooled))
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


def load_unlabeled(cfg: DataConfig, like: pa.Table) -> pa.Table:
    """The unlabeled rows of ``data.unlabeled``; they need the feature columns of the
    labelled table, and any label column they carry is ignored."""
    path = Path(cfg.unlabeled or "")
    if not path.is_file():
        raise DataError(f"data.unlabeled {cfg.unlabeled!r} is not an existing file")
    table = _read_file(path)
    missing = [c for c in like.column_names
               if c not in table.column_names and c not in (cfg.label, cfg.time_column)]
    if missing:
        raise DataError(f"data.unlabeled {str(path)!r} lacks the columns {missing}")
    return table


def subsample(table: pa.Table, cfg: DataConfig) -> pa.Table:
    if cfg.max_rows is None or cfg.max_rows >= table.num_rows:
        return table
    rng = np.random.default_rng(cfg.split_seed)
    return table.take(np.sort(rng.choice(table.num_rows, cfg.max_rows, replace=False)))
