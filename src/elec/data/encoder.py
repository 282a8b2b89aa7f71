"""The one row encoder: raw values -> the integer ids the network reads, for training
(a table), ``elec predict`` and HTTP (rows of field -> value) alike, by the rules of
``elec.data.values``, so a model never sees at serving an id it would not have seen in
training."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from elec.data.schema import FIRST, MISSING, OOV, FeatureSchema, FittedField
from elec.data.values import (
    ColumnKeys,
    RowError,
    category_key,
    category_keys,
    column_keys,
    number,
    numbers,
    same_type,
)
from elec.errors import shown


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


class RowEncoder:
    """Encodes rows with a fitted schema; ``row`` numbers in errors count from 0 in the
    table or request given. A table is encoded column by column through its distinct
    values, by the same rules as rows one by one."""

    COLUMNWISE = 64  # rows of a request from which its fields are read as columns

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

    def encode_columns(self, columns: Mapping[str, Sequence], rows: int,
                       columnwise: bool = False) -> EncodedFeatures:
        """``columns``: field name -> its ``rows`` values; an absent field is missing.
        ``columnwise``: each field whose values share one type is encoded as a column,
        ``encode_table``'s way; the others value by value."""
        absent = [None] * rows

        def read(field: FittedField, whole, one_by_one) -> np.ndarray:
            values = columns.get(field.name, absent)
            array = same_type(values) if columnwise else None
            return one_by_one(field, values) if array is None else whole(field, array)

        single = [read(f, self._single_column, self._single) for f in self.schema.single]
        return EncodedFeatures(
            single=np.stack(single, axis=1) if single else np.zeros((rows, 0), dtype=np.int64),
            multi=[read(f, self._multi_column, self._multi) for f in self.schema.multi])

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
        """Rows of a request; from ``COLUMNWISE`` rows on, read column by column (a
        4,096-row request in about a third of the time, holding the interpreter less):
        the same ids and the same errors either way."""
        for r, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise RowError(f"row {r}: expected an object of field -> value, "
                               f"got {shown(row)}")
        return self.encode_columns({f.name: [row.get(f.name) for row in rows]
                                    for f in self.schema.fields}, len(rows),
                                   columnwise=len(rows) >= self.COLUMNWISE)
