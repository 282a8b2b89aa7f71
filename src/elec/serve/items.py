"""A bundle's item table grown without retraining (``elec items add``, and ``POST /items``
of ``elec serve --add-items``).

Each new item's text is rendered from the bundle's item fields as in training, put
through the bundle's LM once (``item_encoder``; the words control's bundle needs none:
its bag of the table's words) and projected by the trained projection into the table.
The served graphs read item vectors as an input, so they stay as they are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from elec.config import FieldSpec, LLMConfig, TextConfig
from elec.data.store import atomic_dir, link_or_copy, sha256_file, write_json
from elec.data.values import RowError
from elec.serve.bundle import ITEMS_FILE, BundleError, is_bundle, read_manifest
from elec.serve.predictor import ItemLookup
from elec.text.items import (
    item_checkpoint,
    item_table_llm,
    item_table_words,
    read_item_checkpoint,
    render_items,
)
from elec.text.words import bags
from elec.ui import Reporter


def item_lookup(bundle: str | Path) -> dict:
    """The manifest's account of the bundle's item table (its fields, text and LM)."""
    manifest = read_manifest(bundle)
    if not manifest.get("item_lookup"):
        raise BundleError(f"{bundle} serves {manifest['method']!r}, which looks up no item "
                          f"vectors; export item_lm or vanilla_item to add items to")
    return manifest["item_lookup"]


def item_encoder(bundle: str | Path, reporter: Reporter) -> Callable[[list[str]], torch.Tensor]:
    """What turns new items' texts into the vectors the bundle's item table projects: its
    LM (loaded here, on the GPU if there is one), or for the words control their bags of
    the table's words."""
    lookup = item_lookup(bundle)  # refuses a bundle without an item table
    vocab = item_table_words(load_file(str(Path(bundle) / ITEMS_FILE)))
    if vocab is not None:
        return lambda texts: bags(texts, vocab)
    from elec.llm.stage1 import text_encoder  # only bundles of LM vectors load an LM

    return text_encoder(LLMConfig.model_validate(lookup["llm"]), reporter)


def new_items(bundle: str | Path, table: pa.Table) -> tuple[list[str], int]:
    """The item texts of ``table``'s rows that ``bundle``'s table lacks, and how many it
    has already."""
    lookup = item_lookup(bundle)
    fields = [FieldSpec.model_validate(f) for f in lookup["fields"]]
    missing = [f.name for f in fields if f.name not in table.column_names]
    if missing:
        raise BundleError(f"the items lack the fields {missing} an item's text is rendered "
                          f"from (this bundle reads {[f.name for f in fields]})")
    known = set(read_item_checkpoint(load_file(str(Path(bundle) / ITEMS_FILE)))[0])
    rendered = dict.fromkeys(render_items(table, fields,
                                          TextConfig.model_validate(lookup["text"])))
    new = [t for t in rendered if t not in known]
    return new, len(rendered) - len(new)


def add_items(bundle: str | Path, texts: list[str], hidden: torch.Tensor) -> torch.Tensor:
    """Put ``texts`` with their LM vectors ``hidden`` into the bundle's item table,
    projected by the trained projection; the bundle is replaced whole or not at all (its
    other files hard-linked into the new one, not copied).
    Returns the projected vectors."""
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    items = load_file(str(bundle / ITEMS_FILE))
    known, fields, vectors = read_item_checkpoint(items)
    projected = F.linear(hidden.float(), items["projection.weight"], items["projection.bias"])
    items.update(item_checkpoint(known + texts, fields, torch.cat([vectors, projected]),
                                 item_table_llm(items), item_table_words(items)))
    with atomic_dir(bundle, is_bundle) as staging:
        for name in manifest["sha256"]:  # a bundle's files are only ever written whole
            if name != ITEMS_FILE:
                link_or_copy(bundle / name, staging / name)
        save_file({k: v.contiguous() for k, v in items.items()}, str(staging / ITEMS_FILE))
        manifest["item_lookup"]["items"] = len(known) + len(texts)
        manifest["sha256"][ITEMS_FILE] = sha256_file(staging / ITEMS_FILE)
        write_json(staging / "manifest.json", manifest)
    return projected


class ItemAdder:
    """``POST /items``: new items' rows in, their texts through the LM (``encode``: texts
    -> pooled vectors), into the bundle on disk (kept across restarts) and the serving
    table (scored from the next request on). One request at a time."""

    def __init__(self, bundle: Path, lookup: ItemLookup,
                 encode: Callable[[list[str]], torch.Tensor]):
        self.bundle, self.items, self.encode = bundle, lookup, encode
        self._one_at_a_time = threading.Lock()

    def __call__(self, rows: list[dict]) -> dict:
        missing = sorted({f.name for f in self.items.fields for row in rows if f.name not in row})
        if missing:
            raise RowError(f"the items lack the fields {missing} an item's text is rendered "
                           f"from (this bundle reads {[f.name for f in self.items.fields]})")
        rendered = self.items.texts(rows)  # as /predict renders them
        if "" in rendered:
            raise RowError(f"row {rendered.index('')}: every item field is missing, so the "
                           f"item has no text")
        with self._one_at_a_time:
            texts = list(dict.fromkeys(rendered))
            new = [t for t in texts if t not in self.items.index]
            if new:
                self.items.extend(new, add_items(self.bundle, new, self.encode(new)))
        return {"added": len(new), "in_table_already": len(texts) - len(new),
                "in_table": len(self.items.index)}
