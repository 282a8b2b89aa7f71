"""The one row encoder: raw values -> the integer ids the network reads, for training
(a table), ``elec predict`` and HTTP (rows of field -> value) alike.

Every value is read by the same rules wherever it comes from, so a model never sees
at serving an id it would not have seen in training:
- missing: ``None``, ``""`` and NaN, in every kind of field;
- categorical values are keys: strings as they are, integers and integer-valued
  floats as integers (``3``, ``3.0`` and ``"3"`` are one key), other floats as
  Python prints them; unseen keys go to the out-of-vocabulary bucket;
- numeric values are numbers or strings of numbers, bucketed by the fitted edges;
- multi-valued fields are lists of categorical values (missing entries skipped).
Anything else is a ``RowError`` naming the row and the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from elec.errors import DataError

if TYPE_CHECKING:
    from elec.data.schema import FeatureSchema, FittedField

# Index conventions, shared by every field so that one embedding table serves all:
# 0 is "missing" (and padding in multi-valued fields), 1 the out-of-vocabulary bucket,
# real values start at 2.
MISSING, OOV, FIRST = 0, 1, 2


class RowError(DataError):
    """A row that cannot be encoded; the message names the row and the field."""


def clip(text: str, limit: int = 60) -> str:
    """At most ``limit`` characters of ``text``, saying how long it was: never megabytes
    of a request in a message."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def shown(value: object, limit: int = 60) -> str:
    """A value as an error message quotes it."""
    try:
        return clip(repr(value), limit)
    except ValueError:  # an integer of more digits than Python will print
        return "<a very long integer>"


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


def category_keys(values: object, row: int, name: str) -> list[str]:
    """The keys of a multi-valued field's list; an absent list is empty."""
    if is_missing(values):
        return []
    if not isinstance(values, (list, tuple)):
        raise RowError(f"row {row}, field {name!r}: expected a list of values, "
                       f"got {shown(values)} (a multi-valued field takes a list: split the "
                       f"text into its values first)")
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


class RowEncoder:
    """Encodes rows with a fitted schema; ``row`` numbers in errors count from 0 in the
    table or request given."""

    def __init__(self, schema: FeatureSchema):
        self.schema = schema
        self.index = schema.index
        self.edges = {f.name: np.asarray(f.boundaries or [], dtype=np.float64)
                      for f in schema.single if f.kind == "numeric"}

    def _single(self, field: FittedField, values: Sequence) -> np.ndarray:
        if field.kind == "numeric":
            numbers = np.array([number(v, r, field.name) for r, v in enumerate(values)],
                               dtype=np.float64)
            ids = np.searchsorted(self.edges[field.name], numbers, side="right") + 1
            return np.where(np.isnan(numbers), MISSING, ids).astype(np.int64)
        index = self.index[field.name]
        keys = (category_key(v, r, field.name) for r, v in enumerate(values))
        return np.fromiter((MISSING if k is None else index.get(k, OOV) for k in keys),
                           dtype=np.int64, count=len(values))

    def _multi(self, field: FittedField, values: Sequence) -> np.ndarray:
        index = self.index[field.name]
        out = np.zeros((len(values), field.max_len), dtype=np.int64)
        for r, value in enumerate(values):
            ids = [index.get(k, OOV) for k in category_keys(value, r, field.name)]
            out[r, :min(len(ids), field.max_len)] = ids[:field.max_len]
        return out

    def encode_columns(self, columns: Mapping[str, Sequence], rows: int) -> EncodedFeatures:
        """``columns``: field name -> its ``rows`` values; an absent field is missing."""
        absent = [None] * rows
        single = [self._single(f, columns.get(f.name, absent)) for f in self.schema.single]
        return EncodedFeatures(
            single=np.stack(single, axis=1) if single else np.zeros((rows, 0), dtype=np.int64),
            multi=[self._multi(f, columns.get(f.name, absent)) for f in self.schema.multi])

    def encode_table(self, table: pa.Table) -> EncodedFeatures:
        return self.encode_columns({f.name: table[f.name].to_pylist()
                                    for f in self.schema.fields}, table.num_rows)

    def encode_rows(self, rows: Sequence[Mapping]) -> EncodedFeatures:
        for r, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise RowError(f"row {r}: expected an object of field -> value, "
                               f"got {shown(row)}")
        return self.encode_columns({f.name: [row.get(f.name) for row in rows]
                                    for f in self.schema.fields}, len(rows))
