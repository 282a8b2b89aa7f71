"""Feature schema: encoders fitted on the training rows, saved as JSON, used for serving.

Vocabularies also count the unlabeled rows (distillation's pool, when there is one):
their features are known before any click, and a new id that only they carry gets an
embedding row of its own, which the student learns from the teacher's scores, instead
of the out-of-vocabulary bucket that every new id would share.

Index conventions, shared by every encoder so that one embedding table serves all:
0 is "missing" (and padding in multi-valued fields), 1 is the out-of-vocabulary
bucket, real values start at 2. Numeric fields are bucketed, so every tabular
field ends up as integer ids.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from elec.config import FieldSpec
from elec.data.movielens import DataError
from elec.data.store import write_atomic

MISSING, OOV, FIRST = 0, 1, 2


@dataclass
class FittedField:
    name: str
    kind: str  # categorical | numeric | multi
    vocab: list[str] | None = None
    boundaries: list[float] | None = None
    max_len: int = 1

    @property
    def size(self) -> int:
        """Rows this field needs in the embedding table."""
        if self.kind == "numeric":
            return len(self.boundaries or []) + 2
        return len(self.vocab or []) + FIRST


def _as_strings(column: pa.ChunkedArray) -> list[str | None]:
    return [None if v is None else str(v) for v in column.to_pylist()]


def _as_numbers(column: pa.ChunkedArray, name: str) -> np.ndarray:
    values = column.to_pylist()
    out = np.empty(len(values), dtype=np.float64)
    for row, value in enumerate(values):
        if value is None or value == "":
            out[row] = np.nan
            continue
        try:
            out[row] = float(value)
        except (TypeError, ValueError):
            raise DataError(f"column {name!r} row {row:,}: expected a number, got {value!r}"
                            ) from None
    return out


def _fit_field(spec: FieldSpec, column: pa.ChunkedArray,
               unlabeled: pa.ChunkedArray | None = None) -> FittedField:
    if spec.kind == "numeric":
        if spec.boundaries is not None:
            edges = sorted(spec.boundaries)
        else:
            values = _as_numbers(column, spec.name)
            values = values[~np.isnan(values)]
            quantiles = np.linspace(0, 1, spec.n_buckets + 1)[1:-1]
            edges = sorted(set(np.quantile(values, quantiles).tolist())) if len(values) else []
        return FittedField(spec.name, "numeric", boundaries=[float(e) for e in edges])
    counts: Counter[str] = Counter()
    for part in [column] if unlabeled is None else [column, unlabeled]:
        if spec.kind == "multi":
            counts.update(str(v) for row in part.to_pylist() if row for v in row)
        else:
            counts.update(v for v in _as_strings(part) if v is not None)
    vocab = sorted(v for v, c in counts.items() if c >= spec.min_count)
    return FittedField(spec.name, spec.kind, vocab=vocab,
                       max_len=spec.max_len if spec.kind == "multi" else 1)


@dataclass
class EncodedFeatures:
    """Integer ids of the tabular fields: one matrix for single-valued fields, one per
    multi-valued field (padded with 0)."""

    single: np.ndarray  # int64 [rows, single fields]
    multi: list[np.ndarray]  # int64 [rows, max_len] each

    def __len__(self) -> int:
        return self.single.shape[0]


class FeatureSchema:
    """The fitted encoders of every tabular field; all that serving needs besides weights."""

    def __init__(self, fields: list[FittedField]):
        self.fields = fields
        self.single = [f for f in fields if f.kind != "multi"]
        self.multi = [f for f in fields if f.kind == "multi"]
        # field -> value -> id; also what serving encodes request rows with
        self.index = {f.name: {v: i + FIRST for i, v in enumerate(f.vocab or [])}
                       for f in fields}

    @classmethod
    def fit(cls, table: pa.Table, specs: list[FieldSpec],
            unlabeled: pa.Table | None = None) -> FeatureSchema:
        """Encoders of ``table`` (the training rows); vocabularies also count ``unlabeled``
        (rows without labels: labels play no part in fitting), numeric buckets do not."""
        return cls([_fit_field(s, table[s.name],
                               None if unlabeled is None else unlabeled[s.name])
                    for s in specs if s.tabular and s.kind != "text"])

    @property
    def names(self) -> list[str]:
        """Field names in embedding order: single-valued fields, then multi-valued."""
        return [f.name for f in self.single + self.multi]

    @property
    def single_sizes(self) -> list[int]:
        return [f.size for f in self.single]

    @property
    def multi_sizes(self) -> list[int]:
        return [f.size for f in self.multi]

    def _encode_single(self, field: FittedField, column: pa.ChunkedArray) -> np.ndarray:
        if field.kind == "numeric":
            values = _as_numbers(column, field.name)
            ids = np.searchsorted(np.asarray(field.boundaries), values, side="right") + 1
            return np.where(np.isnan(values), MISSING, ids).astype(np.int64)
        index = self.index[field.name]
        return np.fromiter((MISSING if v is None else index.get(v, OOV)
                            for v in _as_strings(column)), dtype=np.int64, count=len(column))

    def _encode_multi(self, field: FittedField, column: pa.ChunkedArray) -> np.ndarray:
        index = self.index[field.name]
        out = np.zeros((len(column), field.max_len), dtype=np.int64)
        for row, values in enumerate(column.to_pylist()):
            ids = [index.get(str(v), OOV) for v in (values or [])][:field.max_len]
            out[row, :len(ids)] = ids
        return out

    def transform(self, table: pa.Table) -> EncodedFeatures:
        single = [self._encode_single(f, table[f.name]) for f in self.single]
        return EncodedFeatures(
            single=np.stack(single, axis=1) if single else np.zeros((table.num_rows, 0),
                                                                     dtype=np.int64),
            multi=[self._encode_multi(f, table[f.name]) for f in self.multi])

    def to_dict(self) -> dict:
        return {"format": "elec.schema/1", "fields": [asdict(f) for f in self.fields]}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSchema:
        return cls([FittedField(**f) for f in data["fields"]])

    def save(self, path: str | Path) -> None:
        write_atomic(Path(path), json.dumps(self.to_dict()).encode())

    @classmethod
    def load(cls, path: str | Path) -> FeatureSchema:
        return cls.from_dict(json.loads(Path(path).read_text()))
