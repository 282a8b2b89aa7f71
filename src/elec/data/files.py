"""Users' files as they come: Parquet, and CSV / TSV with any common delimiter, quoted
newlines, a byte-order mark or compression (.gz, .zst, .bz2, .lz4); one file, a
directory of files or a glob. A file that still cannot be read is named, with the
line where reading stopped and what to check."""

from __future__ import annotations

import csv
import glob
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds

from elec.errors import DataError

FORMATS = {".parquet": "parquet", ".csv": "csv", ".tsv": "csv", ".txt": "csv"}
COMPRESSION = (".gz", ".zst", ".bz2", ".lz4")
DELIMITERS = ",\t;|"
SNIFF_BYTES = 64 * 1024


def file_format(path: Path) -> str | None:
    """parquet, csv, or None for a file elec does not read (by its name)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSION:
        suffixes.pop()
    return FORMATS.get(suffixes[-1]) if suffixes else None


def input_files(spec: str | Path) -> list[Path]:
    """The data files ``spec`` names: a file, a directory of files, or a glob pattern."""
    path = Path(spec)
    if path.is_file():
        if file_format(path) is None:
            raise DataError(f"{str(path)!r}: expected a .parquet, .csv or .tsv file "
                            f"(optionally .gz / .zst / .bz2 / .lz4 compressed)")
        return [path]
    found = (sorted(path.iterdir()) if path.is_dir()
             else sorted(Path(p) for p in glob.glob(str(spec))))
    files = [p for p in found if p.is_file() and file_format(p) is not None]
    if not files:
        what = "directory" if path.is_dir() else "pattern"
        raise DataError(f"{str(spec)!r}: no .parquet, .csv or .tsv file in this {what}")
    return files


def _sample(path: Path) -> str:
    """The first lines of a (possibly compressed) text file."""
    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(SNIFF_BYTES).decode("utf-8", errors="replace")
    return head[:head.rfind("\n") + 1] or head


def csv_format(path: Path) -> ds.CsvFileFormat:
    """How to read one CSV file: its delimiter (a tab for .tsv, else sniffed among
    , tab ; |) and quoted values that may span lines."""
    delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else None
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(_sample(path).lstrip("\ufeff"), DELIMITERS).delimiter
        except csv.Error:  # one column, or too little to tell
            delimiter = ","
    return ds.CsvFileFormat(parse_options=pacsv.ParseOptions(delimiter=delimiter,
                                                             newlines_in_values=True))


def dataset(files: list[Path]) -> ds.Dataset:
    """One dataset over ``files`` (all Parquet or all CSV, read the first CSV's way)."""
    formats = {file_format(f) for f in files}
    if len(formats) > 1:
        raise DataError(f"{str(files[0].parent)!r} mixes Parquet and CSV files")
    fmt = csv_format(files[0]) if formats == {"csv"} else "parquet"
    try:
        if formats == {"csv"} and any(f.name.lower().endswith(".zst") for f in files):
            # Arrow's dataset reader does not detect zstd: such files are read whole
            return ds.dataset(pa.concat_tables(
                [pacsv.read_csv(f, parse_options=fmt.parse_options) for f in files]))
        return ds.dataset([str(f) for f in files], format=fmt)
    except (pa.ArrowInvalid, OSError) as error:
        raise unreadable(files, error) from None


def read_table(spec: str | Path | list[Path]) -> pa.Table:
    """Every row of the files ``spec`` names (or of a list of files), as one table."""
    files = spec if isinstance(spec, list) else input_files(spec)
    try:
        return utf8(dataset(files).to_table(), files)
    except (pa.ArrowInvalid, OSError) as error:
        raise unreadable(files, error) from None


def batches(data: ds.Dataset, files: list[Path], **options) -> Iterator[pa.RecordBatch]:
    """``data.to_batches(**options)``, its reading errors named as ``read_table``'s."""
    try:
        for batch in data.to_batches(**options):
            yield utf8(batch, files)
    except (pa.ArrowInvalid, OSError) as error:
        raise unreadable(files, error) from None


def utf8(table: pa.Table | pa.RecordBatch, files: list[Path]):
    """``table``, unless a CSV column came out as bytes: text that is not UTF-8."""
    if file_format(files[0]) != "csv":
        return table
    for field in table.schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            where = repr(str(files[0])) if len(files) == 1 else f"a file in {files[0].parent}"
            raise DataError(f"{where}: column {field.name!r} is not UTF-8 text (Latin-1 or "
                            f"another encoding?); elec reads CSV as UTF-8: save the file as "
                            f"UTF-8, e.g. iconv -f latin1 -t utf-8")
    return table


def unreadable(files: list[Path], error: Exception) -> DataError:
    """A reading error as one message: the file, the line, what to check."""
    message = str(error)
    named = next((f for f in files if str(f) in message), files[0] if len(files) == 1 else None)
    where = f"{str(named)!r}" if named else f"one of {len(files)} files in {str(files[0].parent)!r}"
    row = re.search(r"Row #(\d+)", message)
    line = f", row {int(row.group(1)):,} (counting the header)" if row else ""
    detail = message.rsplit("Invalid: ", 1)[-1].strip()
    if "compressed" in message.lower() or "gzip" in message.lower():
        advice = "the compressed file is cut short or damaged: copy or download it again"
    elif file_format(named or files[0]) == "parquet":
        advice = "check that it is a complete Parquet file"
    else:
        delimiter = csv_format(named or files[0]).parse_options.delimiter
        advice = (f"elec read it as CSV with the delimiter {delimiter!r}; check that every "
                  f"row has the header's number of columns and that every quote is closed")
    return DataError(f"{where}{line} cannot be read: {detail}; {advice}")
