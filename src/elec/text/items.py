"""Texts smaller than a sample's: an item's own text (the fields that describe the item,
its title, genres, ..., rendered alone, the same for every row of the item and known for
a new item before any row of it), read by the item-level method; and each field value's
sentence, read by the field-level method."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import Tensor

from elec.config import FieldSpec, RunConfig, TextConfig
from elec.data.encoder import FIRST
from elec.data.prepare import ItemTexts
from elec.data.schema import FeatureSchema
from elec.data.values import column_keys
from elec.errors import DataError
from elec.text.render import render_table, sentence, text_fields, truncate


def one_value_per_item(train: pa.Table, names: Sequence[str], item_column: str
                       ) -> list[str]:
    """Those of the columns ``names`` (the item column aside) that hold one value per item
    in the rows of ``train``."""
    items = len(pc.unique(train[item_column]))

    def pairs(name: str) -> int:  # distinct (item, value) pairs
        try:
            return pa.table({"i": train[item_column], "v": train[name]}).group_by(
                ["i", "v"]).aggregate([]).num_rows
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # lists: in Python
            return len(set(zip(train[item_column].to_pylist(),
                               map(repr, train[name].to_pylist()), strict=True)))

    return [n for n in names if n != item_column and n in train.column_names
            and pairs(n) == items]


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
    one = set(one_value_per_item(train, [s.name for s in text_fields(specs, cfg)],
                                 item_column))
    chosen = [spec for spec in text_fields(specs, cfg) if spec.name in one]
    if not chosen:
        raise DataError(f"no rendered field holds one value per item ({item_column!r}); "
                        f"name the fields that describe an item in text.item_fields")
    return chosen


def render_items(table: pa.Table, fields: Sequence[FieldSpec], cfg: TextConfig) -> list[str]:
    """Every row's item text: ``fields`` alone, in their order. Each distinct combination
    of the fields' values is rendered once (an item's rows repeat it)."""
    only = cfg.model_copy(update={"fields": [f.name for f in fields]})
    codes = [_codes(table[f.name]) for f in fields]
    if not table.num_rows or any(c is None for c in codes):
        return render_table(table, fields, only)
    key, size = np.zeros(table.num_rows, np.int64), 1
    for c in codes:  # one number per combination, while it fits in 63 bits
        span = int(c.max()) + 2
        size *= span
        if size >= 2**62:
            return render_table(table, fields, only)
        key = key * span + c + 1
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    texts = render_table(table.take(first), fields, only)
    return [texts[i] for i in inverse]


def _codes(column: pa.ChunkedArray) -> np.ndarray | None:
    """A code per row (-1: missing), equal in two rows only where the values are, so they
    render alike; None for a type whose values this cannot tell apart exactly."""
    column = column.combine_chunks()
    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        if not (pa.types.is_string(kind.value_type) or pa.types.is_integer(kind.value_type)):
            return None
        column = column.cast(pa.list_(pa.string()))
        values = pc.list_flatten(column)
        if values.null_count or pc.any(pc.match_substring(values, "\x1f")).as_py():
            return None
        # joined by a character no value holds; an empty list ("") is not a missing one
        column = pc.binary_join(column, "\x1f")
    elif pa.types.is_floating(kind):  # by their bits: -0.0 and 0.0 render apart
        bits = column.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        column = pa.array(bits.view(np.int64), mask=column.is_null().to_numpy(
            zero_copy_only=False))
    elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
              or pa.types.is_integer(kind) or pa.types.is_boolean(kind)):
        return None
    return pc.dictionary_encode(column).indices.fill_null(-1).to_numpy().astype(np.int64)


ITEMS = "{}.items"  # the checkpoint of an item method's item table


def item_checkpoint(texts: list[str], fields: list[str], vectors: Tensor,
                    llm: dict | None = None, words: list[str] | None = None
                    ) -> dict[str, Tensor]:
    """An item table as checkpoint tensors: the texts, their fields and the LM settings
    that encoded them (``llm.precision`` as it ran, never "auto": a new item's text must
    go through the same LM), or for the words control the vocabulary of its bags of
    words, as UTF-8 JSON bytes beside the vectors, so one checksummed file holds it."""
    described = {"texts": texts, "fields": fields, "llm": llm}
    if words is not None:
        described["words"] = words
    encoded = json.dumps(described).encode()
    return {"vectors": vectors,
            "texts_json": torch.frombuffer(bytearray(encoded), dtype=torch.uint8)}


def read_item_checkpoint(tensors: dict[str, Tensor]) -> tuple[list[str], list[str], Tensor]:
    """texts, fields, vectors of ``item_checkpoint``."""
    words = json.loads(bytes(tensors["texts_json"].numpy()).decode())
    return words["texts"], words["fields"], tensors["vectors"]


def item_table_llm(tensors: dict[str, Tensor]) -> dict | None:
    """The LM settings that encoded an ``item_checkpoint``'s texts (None if not recorded)."""
    return json.loads(bytes(tensors["texts_json"].numpy()).decode()).get("llm")


def item_table_words(tensors: dict[str, Tensor]) -> list[str] | None:
    """The vocabulary of an ``item_checkpoint`` of bags of words (None: LM vectors)."""
    return json.loads(bytes(tensors["texts_json"].numpy()).decode()).get("words")


def item_texts(cfg: RunConfig, required: bool = True
               ) -> Callable[[dict[str, pa.Table]], ItemTexts | None]:
    """What ``prepare`` calls for the item texts of every split (split -> rows): the item
    fields found in the training rows, rendered alone (None where none is found and they
    are not ``required``)."""
    def render(parts: dict[str, pa.Table]) -> ItemTexts | None:
        try:
            fields = item_fields(parts["train"], cfg.fields, cfg.text, cfg.data.item_column)
        except DataError:
            if required:
                raise
            return None
        return ItemTexts([f.name for f in fields], {
            split: render_items(part, fields, cfg.text) for split, part in parts.items()},
            {split: item_keys(part, cfg.data.item_column) for split, part in parts.items()})

    return render


def item_keys(table: pa.Table, item_column: str) -> list[str | None]:
    """Every row's item id as the vocabulary keys it (None: missing)."""
    found = column_keys(table[item_column].combine_chunks(), "categorical", item_column)
    keys = [*found.keys, None]  # index -1: a missing value
    return [keys[i] for i in found.indices.tolist()]


def value_texts(schema: FeatureSchema, specs: Sequence[FieldSpec], cfg: TextConfig
                ) -> tuple[list[int], list[str]]:
    """Each value of every rendered vocabulary field as the sentence the sample text holds
    for it ("Occupation is writer.", "Genres is Comedy."), with its row in the shared
    embedding table (the tables' order: single-valued fields, then multi-valued). Hashed
    and numeric fields have no value to read."""
    rendered = {s.name: s for s in text_fields(specs, cfg)}
    summarise = truncate(cfg.max_chars)
    rows, texts, offset = [], [], 0
    for fitted in schema.single + schema.multi:
        spec = rendered.get(fitted.name)
        if spec is not None and fitted.kind != "numeric" and fitted.vocab is not None:
            for i, value in enumerate(fitted.vocab):
                text = sentence(spec, [value] if fitted.kind == "multi" else value, summarise)
                if text:
                    rows.append(offset + FIRST + i)
                    texts.append(text)
        offset += fitted.size
    return rows, texts
