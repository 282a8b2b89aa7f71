"""Distillation rows for the tail (``vanilla_tail``, ``ensemble_tail``): more rows of the
items with few training rows, scored by the teacher, so what the teacher knows of such an
item (the gain network: from its text) reaches the student's embedding of it.

A student learns a rare item's embedding only from the rows that hold it; distilling on
those same rows re-labels them and no more. Here every item with under
``distill.tail_below`` training rows (and every item that only the unlabeled pool holds)
gets rows synthesised up to that many: the item's own fields, taken from one of its rows,
with the other fields (the context: user, time, ...) of training rows drawn at random.
The rows are rendered and encoded like any others (the gain network reads their LM
vectors, from the vector cache where the texts are known), carry no label, and join the
student's training rows as unlabeled ones. ``distill.tail_budget`` caps how many are
made, rarest items first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from elec.config import RunConfig
from elec.data.batches import Columns
from elec.data.encoder import RowEncoder
from elec.data.prepare import Prepared
from elec.data.schema import FIRST
from elec.data.splits import POOL
from elec.text.items import one_value_per_item


@dataclass(frozen=True)
class TailDraw:
    context: np.ndarray  # per synthetic row: the training row its other fields come from
    template: np.ndarray  # per synthetic row: the row (training rows, then the pool's) its
    # item's fields come from
    items: int  # how many items got rows
    wanted: int  # the rows that would be made without the budget


def draw_tail(train_items: np.ndarray, pool_items: np.ndarray | None, below: int,
              budget: int, rng: np.random.Generator) -> TailDraw:
    """Which rows to synthesise, from every row's item code (training rows, and the
    pool's): each item with 0 < n < ``below`` training rows, or only in the pool, gets
    ``below - n`` rows, the rarest items first while ``budget`` lasts."""
    source = train_items if pool_items is None else np.concatenate([train_items, pool_items])
    items, first = np.unique(source, return_index=True)
    known = items >= FIRST  # a missing or out-of-vocabulary item has no embedding to learn
    items, first = items[known], first[known]
    counts = np.bincount(train_items, minlength=int(source.max(initial=0)) + 1)[items]
    # an item's template: one of its training rows, drawn; a pool-only item: its first row
    template = first.copy()
    order = np.argsort(train_items, kind="stable")
    starts = np.searchsorted(train_items[order], items)
    seen = counts > 0
    template[seen] = order[starts[seen] + rng.integers(0, counts[seen])]
    short = counts < below
    rarest = np.argsort(counts[short], kind="stable")
    need = (below - counts[short])[rarest]
    wanted = int(need.sum())
    take = np.minimum(need, np.maximum(budget - np.concatenate([[0], np.cumsum(need)[:-1]]), 0))
    templates = np.repeat(template[short][rarest], take)
    return TailDraw(context=rng.integers(0, len(train_items), len(templates)),
                    template=templates, items=int((take > 0).sum()), wanted=wanted)


def tail_table(train: pa.Table, pool: pa.Table | None, item_columns: set[str],
               draw: TailDraw) -> pa.Table:
    """The synthetic rows: ``item_columns`` from each row's template, every other column
    from its context row (the columns the training rows and the pool share)."""
    names = [n for n in train.column_names if pool is None or n in pool.column_names]
    source = train.select(names) if pool is None else pa.concat_tables(
        [train.select(names), pool.select(names)], promote_options="permissive")
    context = pa.array(draw.context, pa.int64())
    template = pa.array(draw.template, pa.int64())
    return pa.table({n: (source if n in item_columns else train)[n].take(
                         template if n in item_columns else context) for n in names})


def item_columns(train: pa.Table, cfg: RunConfig) -> set[str]:
    """The columns that describe the item, taken with it into a synthetic row: the item
    column, and ``text.item_fields`` if given, else every field with one value per item
    in the training rows (rendered into the text or not)."""
    item = cfg.data.item_column
    if cfg.text.item_fields is not None:
        return {item, *cfg.text.item_fields}
    return {item, *one_value_per_item(train, [f.name for f in cfg.fields], item)}


def tail_rows(data: Prepared, cfg: RunConfig, render: Callable[[pa.Table], Sequence[str]]
              ) -> tuple[Columns, list[str], TailDraw]:
    """The synthetic rows of ``data``'s rare items, encoded (no label: zeros) and
    rendered, and how they were drawn (``draw_tail``, seeded by the run seed)."""
    tables, d = data.tables, cfg.distill
    slot = data.schema.single_column(cfg.data.item_column)
    codes = {s: data.columns[s].single[:, slot].cpu().numpy() for s in tables}
    draw = draw_tail(codes["train"], codes.get(POOL), d.tail_below, d.tail_budget,
                     np.random.default_rng(cfg.seed))
    table = tail_table(tables["train"], tables.get(POOL), item_columns(tables["train"], cfg),
                       draw)
    encoded = RowEncoder(data.schema).encode_table(table)
    rows = Columns.from_encoded(encoded, np.zeros(table.num_rows))
    return rows.to(data.columns["train"].label.device), list(render(table)), draw
