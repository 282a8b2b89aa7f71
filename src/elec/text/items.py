"""An item's own text: the fields that describe the item (its title, genres, ...)
rendered alone, the same for every row of the item, and known for a new item before
any row of it. The item-level methods read the LM's vector of it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa

from elec.config import FieldSpec, RunConfig, TextConfig
from elec.errors import DataError
from elec.text.render import render_table, text_fields


def item_fields(train: pa.Table, specs: Sequence[FieldSpec], cfg: TextConfig,
                item_column: str) -> list[FieldSpec]:
    """``text.item_fields`` if given, else the rendered fields that hold one value per
    item in the training rows."""
    by_name = {s.name: s for s in specs}
    if cfg.item_fields is not None:
        missing = [n for n in cfg.item_fields if n not in by_name]
        if missing:
            raise DataError(f"text.item_fields names {missing}, which are not in the "
                            f"config's fields")
        return [by_name[n] for n in cfg.item_fields]
    if item_column not in train.column_names:
        raise DataError(f"the item-level methods need the item column {item_column!r} "
                        f"(data.item_column)")
    items = train[item_column].to_pylist()
    chosen = []
    for spec in text_fields(specs, cfg):
        if spec.name == item_column:
            continue
        values = [repr(v) for v in train[spec.name].to_pylist()]
        if len(set(zip(items, values, strict=True))) == len(set(items)):
            chosen.append(spec)
    if not chosen:
        raise DataError(f"no rendered field holds one value per item ({item_column!r}); "
                        f"name the fields that describe an item in text.item_fields")
    return chosen


def render_items(table: pa.Table, fields: Sequence[FieldSpec], cfg: TextConfig) -> list[str]:
    """Every row's item text: ``fields`` alone, in their order."""
    return render_table(table, fields, cfg.model_copy(update={"fields": [f.name for f in
                                                                         fields]}))


def item_texts(cfg: RunConfig) -> Callable[[dict[str, pa.Table]], dict[str, list[str]]]:
    """What ``prepare`` calls for the item texts of every split (split -> rows): the item
    fields found in the training rows, rendered alone."""
    def render(parts: dict[str, pa.Table]) -> dict[str, list[str]]:
        fields = item_fields(parts["train"], cfg.fields, cfg.text, cfg.data.item_column)
        return {split: render_items(part, fields, cfg.text) for split, part in parts.items()}

    return render
