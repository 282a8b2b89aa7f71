"""Raw rows (dicts of field name -> raw value) -> the integer ids the network reads.

Each value is checked on its way in, so a bad request gets a message naming the
row and the field instead of a stack trace.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from elec.data.schema import MISSING, OOV, FeatureSchema, FittedField


class RowError(ValueError):
    """A request row that cannot be scored; the message names the row and the field."""


def _number(value: object, row: int, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RowError(f"row {row}, field {name!r}: expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise RowError(f"row {row}, field {name!r}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise RowError(f"row {row}, field {name!r}: expected a finite number, got {value!r}")
    return number


def _category(value: object, row: int, name: str) -> str:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise RowError(f"row {row}, field {name!r}: expected a string or an integer id, "
                   f"got {value!r}")


class RowEncoder:
    """Encodes request rows with the fitted schema; unseen categories go to the OOV
    bucket and missing (absent or null) fields to the missing id, as in training."""

    def __init__(self, schema: FeatureSchema):
        self.schema = schema
        self.index = schema.index
        self.boundaries = {f.name: np.asarray(f.boundaries or [], dtype=np.float64)
                           for f in schema.single if f.kind == "numeric"}

    def _single(self, field: FittedField, value: object, row: int) -> int:
        if value is None:
            return MISSING
        if field.kind == "numeric":
            number = _number(value, row, field.name)
            return int(np.searchsorted(self.boundaries[field.name], number, side="right")) + 1
        return self.index[field.name].get(_category(value, row, field.name), OOV)

    def _multi(self, field: FittedField, value: object, row: int) -> list[int]:
        if value is None:
            return []
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise RowError(f"row {row}, field {field.name!r}: expected a list of values, "
                           f"got {value!r}")
        index = self.index[field.name]
        return [index.get(_category(v, row, field.name), OOV) for v in value][:field.max_len]

    def encode(self, rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        """-> single ids (rows, single fields), multi ids (rows, sum of max_len), int64."""
        single = np.zeros((len(rows), len(self.schema.single)), dtype=np.int64)
        widths = [f.max_len for f in self.schema.multi]
        multi = np.zeros((len(rows), sum(widths)), dtype=np.int64)
        starts = np.cumsum([0, *widths])
        for r, row in enumerate(rows):
            if not isinstance(row, dict):
                raise RowError(f"row {r}: expected an object of field -> value, got {row!r}")
            for k, field in enumerate(self.schema.single):
                single[r, k] = self._single(field, row.get(field.name), r)
            for k, field in enumerate(self.schema.multi):
                ids = self._multi(field, row.get(field.name), r)
                multi[r, starts[k]:starts[k] + len(ids)] = ids
        return single, multi
