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
from elec.data.store import write_atomic
from elec.data.values import RowError, column_keys, numbers

# Index conventions, shared by every field so that one embedding table serves all:
# 0 is "missing" (and padding in multi-valued fields), 1 the out-of-vocabulary bucket,
# real values start at 2. (The encoder, which applies them, exports them too.)
MISSING, OOV, FIRST = 0, 1, 2


@dataclass
class FittedField:
    name: str
    kind: str  # categorical | numeric | multi
    vocab: list[str] | None = None
    boundaries: list[float] | None = None
    max_len: int = 1
    buckets: int | None = None  # hashed field: ids are FIRST + hash(key) % buckets
    split: str | None = None  # multi: text is cut into values at this separator

    @property
    def size(self) -> int:
        """Rows this field needs in the embedding table."""
        if self.kind == "numeric":
            return len(self.boundaries or []) + 2
        return (self.buckets or len(self.vocab or [])) + FIRST


def shifted(error: RowError, offset: int) -> RowError:
    """``error`` with its row counted from ``offset``: a batch's rows as its table's."""
    message = str(error)
    if offset and message.startswith("row ") and "," in message:
        number, rest = message[4:].split(",", 1)
        if number.isdigit():
            return RowError(f"row {int(number) + offset},{rest}")
    return error


SAMPLE = 1 << 18  # numeric values kept per field for the bucket edges


class SchemaFitter:
    """Fits the schema in one pass over record batches, in memory bounded by the
    vocabularies (not the rows): every value is read (so a bad one is named by its row),
    the rows marked ``counted`` make the vocabularies (a value must occur ``min_count``
    times), and the numeric bucket edges are quantiles of a uniform sample of at most
    ``SAMPLE`` counted values per field (all of them when there are fewer: then the edges
    are those of all the values)."""

    def __init__(self, specs: list[FieldSpec], seed: int = 0):
        self.specs = [s for s in specs if s.tabular and s.kind != "text"]
        self.counts: dict[str, Counter[str]] = {s.name: Counter() for s in self.specs}
        self.samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # values, random keys
        self.rng = np.random.default_rng(seed)

    def update(self, batch: pa.Table | pa.RecordBatch, counted: np.ndarray | None = None,
               numeric: bool = True, first_row: int = 0) -> None:
        """Read ``batch``, whose first row is row ``first_row`` of its table (for the
        messages); ``counted`` (bool per row, default all) marks the rows that fit the
        encoders; ``numeric=False``: they fit the vocabularies only."""
        try:
            for spec in self.specs:
                column = batch[spec.name]
                if isinstance(column, pa.ChunkedArray):
                    column = column.combine_chunks()
                if spec.kind == "numeric":
                    values = numbers(column, spec.name)
                    if numeric and spec.boundaries is None:
                        self._sample(spec.name, values if counted is None else values[counted])
                else:
                    self._count(spec, column, counted)
        except RowError as error:
            raise shifted(error, first_row) from None

    def _count(self, spec: FieldSpec, column: pa.Array, counted: np.ndarray | None) -> None:
        found = column_keys(column, spec.kind, spec.name, spec.split)
        if spec.encoder == "hash":  # no vocabulary: the values are only read
            return
        indices = found.indices
        if counted is not None:
            indices = indices[counted if found.rows is None else counted[found.rows]]
        tally = np.bincount(indices[indices >= 0], minlength=len(found.keys))
        counts = self.counts[spec.name]
        for key, n in zip(found.keys, tally.tolist(), strict=True):
            if key is not None and n:
                counts[key] += n

    def _sample(self, name: str, values: np.ndarray) -> None:
        """Bottom-k sampling: every value gets a uniform random key and the SAMPLE
        smallest keys are kept, so the sample is uniform however the rows are batched."""
        values = values[~np.isnan(values)]
        keys = self.rng.random(len(values))
        if name in self.samples:
            kept, kept_keys = self.samples[name]
            values, keys = np.concatenate([kept, values]), np.concatenate([kept_keys, keys])
        if len(values) > SAMPLE:
            keep = np.argpartition(keys, SAMPLE)[:SAMPLE]
            values, keys = values[keep], keys[keep]
        self.samples[name] = (values, keys)

    def fitted(self) -> FeatureSchema:
        fields = []
        for spec in self.specs:
            if spec.kind == "numeric":
                fields.append(FittedField(spec.name, "numeric",
                                          boundaries=self._edges(spec)))
                continue
            max_len = spec.max_len if spec.kind == "multi" else 1
            if spec.encoder == "hash":
                fields.append(FittedField(spec.name, spec.kind, vocab=[], max_len=max_len,
                                          buckets=spec.buckets, split=spec.split))
                continue
            vocab = sorted(v for v, c in self.counts[spec.name].items() if c >= spec.min_count)
            fields.append(FittedField(spec.name, spec.kind, vocab=vocab, max_len=max_len,
                                      split=spec.split))
        return FeatureSchema(fields)

    def _edges(self, spec: FieldSpec) -> list[float]:
        if spec.boundaries is not None:
            return [float(e) for e in sorted(spec.boundaries)]
        values = np.sort(self.samples.get(spec.name, (np.zeros(0),))[0])  # order-free
        if not len(values):
            return []
        quantiles = np.linspace(0, 1, spec.n_buckets + 1)[1:-1]
        return [float(e) for e in sorted(set(np.quantile(values, quantiles).tolist()))]


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
        fitter = SchemaFitter(specs)
        counted = None
        if rows is not None:
            counted = np.zeros(table.num_rows, dtype=bool)
            counted[np.asarray(rows)] = True
        fitter.update(table, counted)
        if unlabeled is not None:
            fitter.update(unlabeled, numeric=False)
        return fitter.fitted()

    @property
    def names(self) -> list[str]:
        """Field names in embedding order: single-valued fields, then multi-valued."""
        return [f.name for f in self.single + self.multi]

    def single_column(self, name: str) -> int:
        """The column of single-valued field ``name`` among the encoded ids (its slot
        among the embedded fields)."""
        return [f.name for f in self.single].index(name)

    @property
    def single_sizes(self) -> list[int]:
        return [f.size for f in self.single]

    @property
    def multi_sizes(self) -> list[int]:
        return [f.size for f in self.multi]

    def to_dict(self) -> dict:
        return {"format": "elec.schema/1", "fields": [  # no split: written as before
            {k: v for k, v in asdict(f).items() if k != "split" or v} for f in self.fields]}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSchema:
        return cls([FittedField(**f) for f in data["fields"]])

    def save(self, path: str | Path) -> None:
        write_atomic(Path(path), json.dumps(self.to_dict()).encode())

    @classmethod
    def load(cls, path: str | Path) -> FeatureSchema:
        return cls.from_dict(json.loads(Path(path).read_text()))
