"""Feature schema: encoders fitted on the training rows, saved as JSON, used for serving.

Vocabularies also count the unlabeled rows (distillation's pool, when there is one):
their features are known before any click, and a new id that only they carry gets an
embedding row of its own, which the student learns from the teacher's scores, instead
of the out-of-vocabulary bucket that every new id would share. Values are read by the
rules of ``elec.data.encoder``, the one encoder of training and serving; numeric
fields are bucketed, so every tabular field ends up as integer ids.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from elec.config import FieldSpec
from elec.data.encoder import FIRST, category_key, category_keys, number
from elec.data.store import write_atomic


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


def _fit_field(spec: FieldSpec, column: pa.ChunkedArray, counted: np.ndarray,
               unlabeled: pa.ChunkedArray | None = None) -> FittedField:
    """Every value is read (so a bad one is named by its row in ``column``); the rows
    in ``counted`` (and all of ``unlabeled``) make the vocabulary, and the numeric
    buckets come from the rows in ``counted`` alone."""
    values = column.to_pylist()
    if spec.kind == "numeric":
        numbers = np.array([number(v, r, spec.name) for r, v in enumerate(values)],
                           dtype=np.float64)
        if spec.boundaries is not None:
            edges = sorted(spec.boundaries)
        else:
            fitted = numbers[counted]
            fitted = fitted[~np.isnan(fitted)]
            quantiles = np.linspace(0, 1, spec.n_buckets + 1)[1:-1]
            edges = sorted(set(np.quantile(fitted, quantiles).tolist())) if len(fitted) else []
        return FittedField(spec.name, "numeric", boundaries=[float(e) for e in edges])
    keep = np.zeros(len(values), dtype=bool)
    keep[counted] = True
    parts = [(values, keep)]
    if unlabeled is not None:
        parts.append((unlabeled.to_pylist(), None))
    counts: Counter[str] = Counter()
    for part, kept in parts:
        for r, value in enumerate(part):
            keys = (category_keys(value, r, spec.name) if spec.kind == "multi"
                    else [k for k in [category_key(value, r, spec.name)] if k is not None])
            if kept is None or kept[r]:
                counts.update(keys)
    vocab = sorted(v for v, c in counts.items() if c >= spec.min_count)
    return FittedField(spec.name, spec.kind, vocab=vocab,
                       max_len=spec.max_len if spec.kind == "multi" else 1)


class FeatureSchema:
    """The fitted encoders of every tabular field; all that serving needs besides weights."""

    def __init__(self, fields: list[FittedField]):
        self.fields = fields
        self.single = [f for f in fields if f.kind != "multi"]
        self.multi = [f for f in fields if f.kind == "multi"]
        # field -> value -> id
        self.index = {f.name: {v: i + FIRST for i, v in enumerate(f.vocab or [])}
                       for f in fields}

    @classmethod
    def fit(cls, table: pa.Table, specs: list[FieldSpec], unlabeled: pa.Table | None = None,
            rows: np.ndarray | None = None) -> FeatureSchema:
        """Encoders fitted on the training rows: ``rows`` of ``table`` (default: all).
        Vocabularies also count ``unlabeled`` (rows without labels: labels play no part
        in fitting), numeric buckets do not. Every value of ``table`` is read, so a bad
        one is named by its row in the table, whichever split it is in."""
        counted = np.arange(table.num_rows) if rows is None else np.asarray(rows)
        return cls([_fit_field(s, table[s.name], counted,
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
