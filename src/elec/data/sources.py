"""Turn a configured data source into one table of samples and a 0/1 label."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from elec.config import DataConfig, FieldSpec
from elec.data import amazon, movielens, movielens1m
from elec.data.files import batches, dataset, file_format, input_files, read_table
from elec.data.splits import SPLITS
from elec.errors import DataError

BUILTIN = {movielens.NAME: movielens}


def fetch(name: str, force: bool = False, log: Callable[[str], None] = print) -> Path:
    """Download and verify the built-in dataset ``name`` (``elec data fetch``)."""
    if name not in BUILTIN:
        raise DataError(f"unknown dataset {name!r}; built in: {', '.join(BUILTIN)}")
    return BUILTIN[name].fetch(force=force, log=log)


def _table(cfg: DataConfig, log: Callable[[str], None]) -> pa.Table:
    """data.loader table: a built-in dataset by name, or the user's files."""
    if cfg.dataset in BUILTIN:
        source = BUILTIN[cfg.dataset]
        return source.samples(source.load_tables(source.fetch(log=log)), history=cfg.history)
    if not Path(cfg.dataset).exists() and not any(c in cfg.dataset for c in "*?["):
        raise DataError(f"data.dataset {cfg.dataset!r} is neither a built-in dataset "
                        f"({', '.join(BUILTIN)}) nor an existing file, directory or pattern")
    return read_table(cfg.dataset)


LOADERS: dict[str, Callable[[DataConfig, Callable[[str], None]], pa.Table]] = {
    # data.loader -> the samples of the dataset data.dataset names, one row each
    "table": _table,
    "ml-1m": lambda cfg, log: movielens1m.samples(Path(cfg.dataset).expanduser(),
                                                  history=cfg.history),
    "amazon-reviews-2023": lambda cfg, log: amazon.samples(Path(cfg.dataset).expanduser()),
}


def load_table(cfg: DataConfig, log: Callable[[str], None] = print) -> pa.Table:
    """All samples of the configured dataset, one row each (not yet split)."""
    return LOADERS[cfg.loader](cfg, log)


def check_fields(table: pa.Table, fields: list[FieldSpec], cfg: DataConfig) -> None:
    """Stop early, with the name, if the config asks for a column the data lacks."""
    available = set(table.column_names)
    asked = [(f"field {f.name!r} (fields)", f.name) for f in fields]
    for what, name in [*asked, (f"label column {cfg.label!r} (data.label)", cfg.label)]:
        if name not in available:
            raise DataError(f"{what} is not a column of {cfg.dataset!r}; its columns are: "
                            f"{', '.join(table.column_names)}")


def labels(table: pa.Table, cfg: DataConfig) -> np.ndarray:
    """The 0/1 click label as float32; a non-binary label column is an error."""
    if table.num_rows == 0:
        raise DataError(f"{cfg.dataset!r} has no data rows")
    return label_values(table[cfg.label], cfg)


def label_values(column: pa.Array | pa.ChunkedArray, cfg: DataConfig,
                 where: str = "") -> np.ndarray:
    """``labels`` of one column; ``where`` (e.g. a batch of a file) starts the messages."""
    where = f"{where}: " if where else ""
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{where}label column {cfg.label!r} has {column.null_count:,} "
                        f"missing values (the first in row {row:,}); drop those rows or fill them")
    if pa.types.is_floating(column.type):
        nan = pc.is_nan(column).to_numpy(zero_copy_only=False)
        if nan.any():
            raise DataError(f"{where}label column {cfg.label!r} has {int(nan.sum()):,} NaN values "
                            f"(the first in row {int(np.argmax(nan)):,}); drop those rows")
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type)):
        raise DataError(f"{where}label column {cfg.label!r} holds {column.type} values "
                        f"({column[0].as_py()!r}, ...); elec needs 0/1 labels, or numbers "
                        f"with data.label_threshold: map the column to 0/1 first")
    if cfg.label_threshold is not None:
        return pc.greater_equal(column, cfg.label_threshold).to_numpy().astype(np.float32)
    values = column.to_numpy(zero_copy_only=False)
    bad = ~np.isin(values, [0, 1])
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{where}label column {cfg.label!r} row {row:,}: expected 0 or 1, got "
                        f"{values[row].item()!r}; set data.label_threshold to binarise it")
    return values.astype(np.float32)


def load_unlabeled(cfg: DataConfig, like: pa.Table) -> pa.Table:
    """The unlabeled rows of ``data.unlabeled``; they need the feature columns of the
    labelled table, and any label column they carry is ignored."""
    path = Path(cfg.unlabeled or "")
    if not path.exists():
        raise DataError(f"data.unlabeled {cfg.unlabeled!r} is not an existing file")
    table = read_table(path)
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


def split_files(directory: Path) -> dict[str, list[Path]]:
    """The files of each split of a dataset given as ``train``, ``valid`` and ``test``
    (each a file or a directory of files) inside ``directory``."""
    found: dict[str, list[Path]] = {}
    for split in SPLITS:
        candidates = [directory / split] + sorted(
            p for p in directory.glob(f"{split}.*") if file_format(p) is not None)
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            raise DataError(f"data.split is 'files' but {str(directory)!r} has no {split!r} "
                            f"file or directory (expected train, valid and test, each a "
                            f".parquet/.csv file or a directory of them)")
        found[split] = input_files(path)
    return found


def record_batches(files: list[Path], columns: list[str],
                   batch_rows: int = 1 << 18) -> Iterator[pa.RecordBatch]:
    """The rows of ``files`` in order, ``columns`` only, at most ``batch_rows`` at a time."""
    data = dataset(files)
    missing = [c for c in columns if c not in data.schema.names]
    if missing:
        raise DataError(f"{str(files[0])!r}: no column {missing[0]!r}; its columns are "
                        f"{', '.join(data.schema.names)}")
    # one batch at a time: Arrow reads ahead 16 batches of 4 files by default, and then
    # memory grows with the number of files
    for batch in batches(data, files, columns=columns, batch_size=batch_rows,
                         batch_readahead=1, fragment_readahead=1, use_threads=False):
        if batch.num_rows:
            yield batch
