"""``elec predict``: a file scored with a bundle, read and written batch by batch (memory
does not grow with the rows), through the encoder that serving uses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from elec.data.files import batches, dataset, input_files
from elec.data.schema import shifted
from elec.data.values import RowError
from elec.errors import DataError
from elec.serve.predictor import Predictor

PROBABILITY = "probability"


def score_file(predictor: Predictor, data: str | Path, out: Path, keep: list[str] | None,
               progress: Callable[[str, int], Callable[[int], None]],
               batch_rows: int = 1 << 16, force: bool = False) -> int:
    """Write ``out`` (Parquet): the columns ``keep`` of ``data`` (default: all) and each
    row's click probability, in the rows' order. Returns the rows scored. ``out`` is
    written under a temporary name and renamed at the end; an existing file is replaced
    only with ``force``, a directory never."""
    files = input_files(data)
    source = dataset(files)
    names = source.schema.names
    lacking = [f.name for f in predictor.schema.fields if f.name not in names]
    if lacking:
        raise DataError(f"{data}: no column {', '.join(map(repr, lacking))}, which the model "
                        f"reads; its columns are {', '.join(names)}")
    kept = names if keep is None else keep
    unknown = [k for k in kept if k not in names]
    if unknown or PROBABILITY in kept:
        raise DataError(f"--keep {', '.join(unknown or [PROBABILITY])}: not a column of "
                        f"{data} to copy (its columns are {', '.join(names)})")
    if out.is_dir() or (out.exists() and not force):
        raise DataError(f"--out {out} exists; choose another path, or add --force to replace "
                        f"the file" if not out.is_dir() else f"--out {out} is a directory; "
                        f"give the path of a .parquet file to write")
    read = list(dict.fromkeys([f.name for f in predictor.schema.fields] + kept))
    advance = progress("scoring", source.count_rows())
    staging = out.with_name(f".{out.name}.partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer, seen = None, 0
    try:
        for batch in batches(source, files, columns=read, batch_size=batch_rows,
                             batch_readahead=1, fragment_readahead=1, use_threads=False):
            try:
                probabilities = predictor.predict_table(batch)
            except RowError as error:  # rows counted over the files
                raise DataError(f"{data}: {shifted(error, seen)}") from None
            scored = pa.Table.from_batches([batch]).select(kept).append_column(
                PROBABILITY, pa.array(probabilities, pa.float32()))
            writer = writer or pq.ParquetWriter(staging, scored.schema)
            writer.write_table(scored)
            seen += batch.num_rows
            advance(batch.num_rows)
        if writer is None:  # no rows: an empty table of the same columns
            empty = source.schema.empty_table().select(kept).append_column(
                PROBABILITY, pa.array([], pa.float32()))
            pq.write_table(empty, staging)
        else:
            writer.close()
        staging.replace(out)
    finally:  # an interrupted scoring leaves no partial file behind
        if writer is not None and writer.is_open:
            writer.close()
        staging.unlink(missing_ok=True)
    return seen
