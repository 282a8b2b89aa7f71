"""How a raw value is read, wherever it comes from (a table in training, a file in
``elec predict``, a request's rows over HTTP):
- missing: ``None``, ``""`` and NaN, in every kind of field;
- categorical values are keys: strings as they are, integers and integer-valued
  floats as integers (``3``, ``3.0`` and ``"3"`` are one key), other floats as
  Python prints them;
- numeric values are numbers or strings of numbers;
- multi-valued fields are lists of categorical values, or text cut at the field's
  ``split`` (missing entries skipped).
Anything else is a ``RowError`` naming the row and the field. Value by value, and
column by column through an Arrow column's distinct values, by the same rules.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from elec.errors import DataError, shown


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
        comma = isinstance(value, str) and re.fullmatch(r"\s*-?\d+,\d+\s*", value)
        raise RowError(f"row {row}, field {name!r}: expected a number, got {shown(value)}"
                       + (" (a decimal comma? write numbers with a decimal point)" if comma
                          else "")) from None
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


def same_type(values: list) -> pa.Array | None:
    """``values`` as one Arrow array where they (or the entries of lists) share one
    scalar Python type, else None: mixed values are read value by value, so that ``3``
    beside ``2.5`` is not read as ``3.0``, nor a 64-bit id beside a float rounded."""
    types = {type(v) for v in values if v is not None}
    if types == {list}:
        types = {type(x) for v in values if v is not None for x in v if x is not None}
    if len(types) > 1 or not types <= {str, int, float, bool}:
        return None
    try:
        return pa.array(values, from_pandas=False)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return None
