"""The one row encoder: raw values -> the integer ids the network reads, for training
(a table), ``elec predict`` and HTTP (rows of field -> value) alike.

Every value is read by the same rules wherever it comes from, so a model never sees
at serving an id it would not have seen in training:
- missing: ``None``, ``""`` and NaN, in every kind of field;
- categorical values are keys: strings as they are, integers and integer-valued
  floats as integers (``3``, ``3.0`` and ``"3"`` are one key), other floats as
  Python prints them; unseen keys go to the out-of-vocabulary bucket;
- numeric values are numbers or strings of numbers, bucketed by the fitted edges;
- multi-valued fields are lists of categorical values, or text cut at the field's
  ``split`` (missing entries skipped).
Anything else is a ``RowError`` naming the row and the field.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from elec.errors import DataError, shown

if TYPE_CHECKING:
    from elec.data.schema import FeatureSchema, FittedField

# Index conventions, shared by every field so that one embedding table serves all:
# 0 is "missing" (and padding in multi-valued fields), 1 the out-of-vocabulary bucket,
# real values start at 2.
MISSING, OOV, FIRST = 0, 1, 2


class RowError(DataError):
    """A row that cannot be encoded; the message names the row and the field."""


def is_missing(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def category_key(value: object, row: int, name: str) -> str | None:
    """The vocabulary key of a categorical value; None when missing."""
    if is_missing(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):  # bools too: "True", "False"
        try:
            return str(value)
        except ValueError:  # more digits than Python will print
            raise RowError(f"row {row}, field {name!r}: an integer of over 4,300 digits is "
                           f"not an id") from None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise RowError(f"row {row}, field {name!r}: expected a string or a number, "
                   f"got {shown(value)}")


def number(value: object, row: int, name: str) -> float:
    """A numeric value as a float; NaN when missing."""
    if is_missing(value):
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RowError(f"row {row}, field {name!r}: expected a number, got {shown(value)}")
    try:
        return float(value)
    except ValueError:
        raise RowError(f"row {row}, field {name!r}: expected a number, "
                       f"got {shown(value)}") from None
    except OverflowError:
        raise RowError(f"row {row}, field {name!r}: {shown(value)} is beyond the range of "
                       f"a number") from None


def category_keys(values: object, row: int, name: str, split: str | None = None) -> list[str]:
    """The keys of a multi-valued field's list (or text cut at ``split``); an absent list
    is empty."""
    if is_missing(values):
        return []
    if split and isinstance(values, str):
        values = values.split(split)
    if not isinstance(values, (list, tuple)):
        raise RowError(f"row {row}, field {name!r}: expected a list of values, got "
                       f"{shown(values)} (a multi-valued field takes a list; for text such "
                       f"as 'red|wool', set the field's split: '|')")
    keys = (category_key(v, row, name) for v in values)
    return [k for k in keys if k is not None]


@dataclass
class EncodedFeatures:
    """Integer ids of the tabular fields: one matrix for single-valued fields, one per
    multi-valued field (padded with 0)."""

    single: np.ndarray  # int64 [rows, single fields]
    multi: list[np.ndarray]  # int64 [rows, max_len] each

    def __len__(self) -> int:
        return self.single.shape[0]

    def take(self, rows: np.ndarray) -> EncodedFeatures:
        return EncodedFeatures(self.single[rows], [m[rows] for m in self.multi])

    def multi_matrix(self) -> np.ndarray:
        """The multi-valued fields side by side: int64 [rows, sum of max_len]."""
        if not self.multi:
            return np.zeros((len(self), 0), dtype=np.int64)
        return np.concatenate(self.multi, axis=1)


def hashed_id(key: str, buckets: int) -> int:
    """A hashed field's id of ``key``: stable across processes and machines (not
    Python's salted ``hash``)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return FIRST + int.from_bytes(digest, "little") % buckets


def distinct(array: pa.Array) -> tuple[list, np.ndarray] | None:
    """The distinct values of ``array`` as Python objects and each row's index among
    them (-1 for null); None for types Arrow cannot hash (lists where one value is
    expected, ...), which are read row by row instead."""
    try:
        encoded = array.dictionary_encode()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return encoded.dictionary.to_pylist(), indices.astype(np.int64, copy=False)


def _first_row(indices: np.ndarray, value: int, rows: np.ndarray | None) -> int:
    row = int(np.flatnonzero(indices == value)[0])
    return row if rows is None else int(rows[row])


@dataclass
class ColumnKeys:
    """A categorical or multi-valued column read as vocabulary keys: ``keys`` (None:
    missing), each entry's index into them (-1: null) and, for a multi-valued column,
    the row of each entry (its lists flattened)."""

    keys: list[str | None]
    indices: np.ndarray
    rows: np.ndarray | None = None


def _distinct_keys(array: pa.Array, name: str, rows: np.ndarray | None) -> ColumnKeys | None:
    found = distinct(array)
    if found is None:
        return None
    values, indices = found
    keys = []
    for u, value in enumerate(values):
        try:
            keys.append(category_key(value, -1, name))
        except RowError:  # again, with the row that holds it
            category_key(value, _first_row(indices, u, rows), name)
    return ColumnKeys(keys, indices, rows)


def column_keys(array: pa.Array, kind: str, name: str, split: str | None = None) -> ColumnKeys:
    """Every value of a categorical (``kind`` categorical) or multi-valued column as
    vocabulary keys, by the rules of ``category_key`` and ``category_keys``: through the
    distinct values where Arrow can hash them, else row by row. A bad value is named by
    its row."""
    if kind != "multi":
        found = _distinct_keys(array, name, None)
        if found is not None:
            return found
        keys = [category_key(v, r, name) for r, v in enumerate(array.to_pylist())]
        return ColumnKeys(keys, np.arange(len(keys)))
    if split and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.split_pattern(array, split)
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        rows = pc.list_parent_indices(array).to_numpy(zero_copy_only=False).astype(np.int64)
        found = _distinct_keys(pc.list_flatten(array), name, rows)
        if found is not None:
            return found
    lists = [category_keys(v, r, name, split) for r, v in enumerate(array.to_pylist())]
    keys = [k for row in lists for k in row]
    rows = np.repeat(np.arange(len(lists)), [len(row) for row in lists])
    return ColumnKeys(keys, np.arange(len(keys)), rows)


def numbers(array: pa.Array, name: str) -> np.ndarray:
    """A numeric column as float64, NaN where missing, by the rules of ``number``."""
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        return array.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    found = None if pa.types.is_boolean(array.type) else distinct(array)
    if found is None:
        return np.array([number(v, r, name) for r, v in enumerate(array.to_pylist())],
                        dtype=np.float64)
    values, indices = found
    parsed = []
    for u, value in enumerate(values):
        try:
            parsed.append(number(value, -1, name))
        except RowError:
            number(value, _first_row(indices, u, None), name)
    return np.append(np.asarray(parsed, dtype=np.float64), math.nan)[indices]


class RowEncoder:
    """Encodes rows with a fitted schema; ``row`` numbers in errors count from 0 in the
    table or request given. A table is encoded column by column through its distinct
    values, by the same rules as rows one by one."""

    def __init__(self, schema: FeatureSchema):
        self.schema = schema
        self.index = schema.index
        self.edges = {f.name: np.asarray(f.boundaries or [], dtype=np.float64)
                      for f in schema.single if f.kind == "numeric"}

    def _id(self, field: FittedField, key: str | None) -> int:
        if key is None:
            return MISSING
        if field.buckets:
            return hashed_id(key, field.buckets)
        return self.index[field.name].get(key, OOV)

    def _bucket(self, field: FittedField, numbers: np.ndarray) -> np.ndarray:
        ids = np.searchsorted(self.edges[field.name], numbers, side="right") + 1
        return np.where(np.isnan(numbers), MISSING, ids).astype(np.int64)

    def _single(self, field: FittedField, values: Sequence) -> np.ndarray:
        if field.kind == "numeric":
            return self._bucket(field, np.array(
                [number(v, r, field.name) for r, v in enumerate(values)], dtype=np.float64))
        return np.fromiter((self._id(field, category_key(v, r, field.name))
                            for r, v in enumerate(values)), dtype=np.int64, count=len(values))

    def _multi(self, field: FittedField, values: Sequence) -> np.ndarray:
        out = np.zeros((len(values), field.max_len), dtype=np.int64)
        for r, value in enumerate(values):
            ids = [self._id(field, k) for k in category_keys(value, r, field.name, field.split)]
            out[r, :min(len(ids), field.max_len)] = ids[:field.max_len]
        return out

    def _ids(self, field: FittedField, found: ColumnKeys) -> np.ndarray:
        ids = np.array([self._id(field, k) for k in found.keys] + [MISSING], dtype=np.int64)
        return ids[found.indices]

    def _single_column(self, field: FittedField, array: pa.Array) -> np.ndarray:
        if field.kind == "numeric":
            return self._bucket(field, numbers(array, field.name))
        return self._ids(field, column_keys(array, field.kind, field.name))

    def _multi_column(self, field: FittedField, array: pa.Array) -> np.ndarray:
        found = column_keys(array, field.kind, field.name, field.split)
        ids, rows = self._ids(field, found), found.rows
        present = ids != MISSING  # missing entries are skipped, not kept as padding
        ids, rows = ids[present], rows[present]
        position = np.arange(len(ids)) - np.searchsorted(rows, rows, side="left")
        kept = position < field.max_len
        out = np.zeros((len(array), field.max_len), dtype=np.int64)
        out[rows[kept], position[kept]] = ids[kept]
        return out

    def encode_columns(self, columns: Mapping[str, Sequence], rows: int) -> EncodedFeatures:
        """``columns``: field name -> its ``rows`` values; an absent field is missing."""
        absent = [None] * rows
        single = [self._single(f, columns.get(f.name, absent)) for f in self.schema.single]
        return EncodedFeatures(
            single=np.stack(single, axis=1) if single else np.zeros((rows, 0), dtype=np.int64),
            multi=[self._multi(f, columns.get(f.name, absent)) for f in self.schema.multi])

    def encode_table(self, table: pa.Table | pa.RecordBatch) -> EncodedFeatures:
        """Every row of ``table``, which has a column for every field."""
        def column(name: str) -> pa.Array:
            values = table[name]
            return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

        single = [self._single_column(f, column(f.name)) for f in self.schema.single]
        rows = table.num_rows
        return EncodedFeatures(
            single=np.stack(single, axis=1) if single else np.zeros((rows, 0), dtype=np.int64),
            multi=[self._multi_column(f, column(f.name)) for f in self.schema.multi])

    def encode_rows(self, rows: Sequence[Mapping]) -> EncodedFeatures:
        for r, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise RowError(f"row {r}: expected an object of field -> value, "
                               f"got {shown(row)}")
        return self.encode_columns({f.name: [row.get(f.name) for row in rows]
                                    for f in self.schema.fields}, len(rows))
