"""From a configured data source to what every stage reads: encoded columns, texts and
user groups per split, and the fitted schema. How a sample reads as text is given by
the caller (``elec.text.render``), which sits above the data layer."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from elec.config import RunConfig
from elec.data.batches import Columns, Rows
from elec.data.encoder import RowEncoder
from elec.data.files import read_table
from elec.data.schema import FIRST, FeatureSchema
from elec.data.sources import (
    check_fields,
    labels,
    load_table,
    load_unlabeled,
    split_files,
    subsample,
)
from elec.data.splits import POOL, SPLITS, split_indices
from elec.data.values import RowError
from elec.errors import DataError


@dataclass
class ItemTexts:
    """Every row's item text (rendered by ``elec.text.items.item_texts``) and item id."""

    fields: list[str]  # the fields an item's text is rendered from, in order
    texts: dict[str, list[str]]  # split -> every row's item text
    ids: dict[str, list[str | None]]  # split -> every row's item id, as a vocabulary key


@dataclass
class Prepared:
    schema: FeatureSchema
    columns: dict[str, Rows]  # train, valid, test (and pool): ids and labels, in memory on
    # the device (Columns) or on disk (ShardedColumns)
    texts: dict[str, list[str]]  # the rendered sample of every row
    groups: dict[str, np.ndarray | None]  # user of every row, for gAUC
    stored_digest: str | None = None  # data encoded on disk: the digest written with it
    item_texts: ItemTexts | None = None  # every row's item text (item methods)
    tables: dict[str, pa.Table] | None = None  # the training rows (and the pool's) as read:
    # what the tail students' synthetic rows are drawn from (elec.distill.tail)

    @property
    def splits(self) -> tuple[str, ...]:
        """train, valid, test, and pool when there are unlabeled rows."""
        return tuple(self.columns)

    def rows_per_item(self, column: str, split: str = "train") -> torch.Tensor:
        """How many rows of ``split`` hold each code of the categorical ``column`` (missing
        and out-of-vocabulary codes count none: they name no one item)."""
        index = self.schema.single_column(column)
        counts = torch.bincount(self.columns[split].single[:, index].cpu(),
                                minlength=self.schema.single[index].size)
        counts[:FIRST] = 0
        return counts

    def item_slices(self, column: str, below: int, split: str = "test"
                    ) -> dict[str, np.ndarray]:
        """Masks of the rows of ``split`` whose item has under ``below`` training rows
        (rare) and none (new: unseen, out of vocabulary or missing)."""
        codes = self.columns[split].single[:, self.schema.single_column(column)].cpu()
        trained = self.rows_per_item(column)[codes].numpy()
        return {"rare": trained < below, "new": trained == 0}

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of everything the stages read: every split's encoded features, labels,
        texts and user groups, so caches are keyed by the data, not by its path."""
        if self.stored_digest is not None:
            return self.stored_digest
        digest = hashlib.sha256()
        for split, columns in self.columns.items():
            digest.update(split.encode())
            for tensor in [columns.single, *columns.multi, columns.label]:
                digest.update(tensor.cpu().numpy().tobytes())
            digest.update("\0".join(self.texts[split]).encode())
            if self.groups[split] is not None:
                digest.update("\0".join(map(str, self.groups[split])).encode())
        return digest.hexdigest()


def check_splits(rows: dict[str, np.ndarray], label: np.ndarray, dataset: str) -> None:
    """Every labelled split has rows of both classes: training and early stopping need
    them, and an AUC of one class is not a number."""
    for split in SPLITS:
        clicks = label[rows[split]]
        if len(clicks) == 0:
            raise DataError(f"{dataset}: the {split} split is empty ({len(label):,} labelled "
                            f"rows in all); elec needs more rows, or other data.fractions")
        if clicks.min() == clicks.max():
            raise DataError(f"{dataset}: every label of the {split} split is "
                            f"{int(clicks[0])} ({len(clicks):,} rows); elec needs clicks and "
                            f"non-clicks in each split (check data.label and "
                            f"data.label_threshold)")


def _encode(encoder: RowEncoder, table: pa.Table, source: str):
    try:
        return encoder.encode_table(table)
    except RowError as error:
        raise DataError(f"{source}: {error}") from None


Render = Callable[[pa.Table], Sequence[str]]
# split -> its rows' item texts, from every split's rows
RenderItems = Callable[[dict[str, pa.Table]], ItemTexts | None]


def _given_splits(cfg: RunConfig) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """The split files one after the other, and the rows of each split."""
    parts = {split: read_table(files)
             for split, files in split_files(Path(cfg.data.dataset)).items()}
    table = pa.concat_tables(list(parts.values()), promote_options="permissive")
    ends = np.cumsum([parts[split].num_rows for split in SPLITS])
    return table, {split: np.arange(end - parts[split].num_rows, end)
                   for split, end in zip(SPLITS, ends, strict=True)}


def prepare(cfg: RunConfig, render: Render, device: torch.device,
            log: Callable[[str], None], render_items: RenderItems | None = None,
            keep_tables: bool = False) -> Prepared:
    """Load, split, fit the schema on the training rows (and the pool's ids), encode and
    ``render`` every split (and ``render_items`` its item texts); ``keep_tables``: keep
    the training rows (and the pool's) as read."""
    if cfg.data.split == "files":
        table, rows = _given_splits(cfg)
    else:
        table = subsample(load_table(cfg.data, log), cfg.data)
    check_fields(table, cfg.fields, cfg.data)
    label = labels(table, cfg.data)
    if cfg.data.split != "files":
        rows = split_indices(table, cfg.data)
    check_splits(rows, label, cfg.data.dataset)
    parts = {split: table.take(index) for split, index in rows.items()}
    if cfg.data.unlabeled:
        parts[POOL] = load_unlabeled(cfg.data, table)
    # new ids that only the unlabeled rows carry get embeddings of their own
    try:
        schema = FeatureSchema.fit(table, cfg.fields, parts.get(POOL), rows=rows["train"])
    except RowError as error:  # row numbers as in the table
        raise DataError(f"{cfg.data.dataset}: {error}") from None
    encoder = RowEncoder(schema)
    encoded = _encode(encoder, table, cfg.data.dataset)
    columns = {split: Columns.from_encoded(encoded.take(rows[split]), label[rows[split]])
               for split in SPLITS}
    if POOL in parts:  # the pool's labels, if the data has them, are never read
        pool = (_encode(encoder, parts[POOL], cfg.data.unlabeled) if cfg.data.unlabeled
                else encoded.take(rows[POOL]))
        columns[POOL] = Columns.from_encoded(pool, np.zeros(len(pool)))
    columns = {split: c.to(device) for split, c in columns.items()}
    texts = {split: list(render(part)) for split, part in parts.items()}
    user = cfg.data.user_column
    groups = {split: (np.asarray(part[user].to_numpy(zero_copy_only=False))
                      if user and user in part.column_names else None)
              for split, part in parts.items()}
    sizes = ", ".join(f"{s} {len(columns[s]):,} (CTR {columns[s].label.mean():.3f})"
                      for s in SPLITS)
    pool = f"; {len(columns[POOL]):,} unlabeled rows" if POOL in columns else ""
    log(f"data: {cfg.data.dataset}, {cfg.data.split} split: {sizes}{pool}; "
        f"{len(schema.fields)} tabular fields")
    log(f"example text: {texts['train'][0]}")
    item_texts = render_items(parts) if render_items else None
    if item_texts:
        log(f"example item text: {item_texts.texts['train'][0]}")
    return Prepared(schema, columns, {s: texts[s] for s in columns},
                    {s: groups[s] for s in columns}, item_texts=item_texts,
                    tables={s: parts[s] for s in ("train", POOL) if s in parts}
                    if keep_tables else None)
