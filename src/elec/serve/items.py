"""A bundle's items grown without retraining (``elec items add``, and ``POST /items``
of ``elec serve --add-items``).

Each new item's text is rendered from the bundle's item fields as in training, put
through the bundle's LM once (``item_encoder``; the words control's bundle needs none:
its bag of the table's words) and projected by the trained projection into the item
table; the served graphs read item vectors as an input, so they stay as they are. A
bundle whose item rows are generated (``item_gen``, ``vanilla_gen``) takes new items'
ids into its vocabulary instead, with their generated rows in the embedding table
(``add_item_rows``): its weights and graphs are written again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from elec.config import FieldSpec, LLMConfig, ModelConfig, TextConfig
from elec.data.schema import FeatureSchema
from elec.data.store import atomic_dir, link_or_copy, sha256_file, write_json
from elec.data.values import RowError
from elec.models import CTRNetwork
from elec.models.item_rows import field_rows, generated_rows, grown
from elec.serve.bundle import (
    GENERATOR_FILE,
    ITEMS_FILE,
    BundleError,
    is_bundle,
    read_manifest,
    write_network,
)
from elec.serve.predictor import ItemLookup, Predictor
from elec.text.items import (
    item_checkpoint,
    item_keys,
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
    if manifest.get("item_rows"):
        raise BundleError(f"{bundle} serves {manifest['method']!r}, whose new items' rows go "
                          f"into its embedding table: add them with `elec items add`, then "
                          f"restart the service")
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


def add_from_table(bundle: str | Path, table: pa.Table, reporter: Reporter) -> tuple[int, int]:
    """``elec items add``: the items of ``table``'s rows that the bundle lacks, added; how
    many were added and how many it had already."""
    if read_manifest(bundle).get("item_rows"):
        return add_item_rows(bundle, table, reporter)
    texts, known = new_items(bundle, table)
    if texts:
        add_items(bundle, texts, item_encoder(bundle, reporter)(texts))
    return len(texts), known


def add_item_rows(bundle: str | Path, table: pa.Table, reporter: Reporter) -> tuple[int, int]:
    """New item ids into a generated method's bundle: each one's text through the LM and
    the generator, its row into the embedding table, its id into the vocabulary; the
    bundle is replaced whole or not at all."""
    from elec.llm.stage1 import text_encoder

    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    about = manifest["item_rows"]
    fields = [FieldSpec.model_validate(f) for f in about["fields"]]
    missing = [n for n in [about["field"], *(f.name for f in fields)]
               if n not in table.column_names]
    if missing:
        raise BundleError(f"the items lack the columns {missing} (this bundle reads the item "
                          f"id {about['field']!r} and its text from "
                          f"{[f.name for f in fields]})")
    schema = FeatureSchema.load(bundle / "schema.json")
    known = schema.index[about["field"]]
    texts = dict(zip(item_keys(table, about["field"]),
                     render_items(table, fields, TextConfig.model_validate(about["text"])),
                     strict=True))
    texts.pop(None, None)  # rows without an item id
    new = {key: text for key, text in texts.items() if key not in known}
    if new:
        hidden = text_encoder(LLMConfig.model_validate(about["llm"]), reporter)(list(new.values()))
        model = ModelConfig.model_validate(manifest["model"])
        network = CTRNetwork(schema, model)
        network.load_state_dict(load_file(str(bundle / "model.safetensors")))
        rows = generated_rows(hidden, load_file(str(bundle / GENERATOR_FILE)))
        network, schema = grown(network, schema, model, about["field"], torch.cat(
            [field_rows(network, schema, about["field"]), rows]), list(new))
        formats = tuple(f for f, name in (("torchscript", "model.torchscript"),
                                          ("onnx", "model.onnx")) if (bundle / name).is_file())
        with atomic_dir(bundle, is_bundle) as staging:
            write_network(staging, network, schema, 0, formats)
            for name in manifest["sha256"]:  # the others unchanged
                if not (staging / name).exists():
                    link_or_copy(bundle / name, staging / name)
            about["new_items"] += len(new)
            manifest["fields"] = schema.names
            manifest["sha256"] = {p.name: sha256_file(p) for p in sorted(staging.iterdir())}
            write_json(staging / "manifest.json", manifest)
    return len(new), len(texts) - len(new)


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


def item_adder(bundle: str | Path, predictor: Predictor | None = None
               ) -> Callable[[list[dict]], dict]:
    """What takes new items in (rows with the item fields -> ``{"added": n, ...}``).
    Given the ``Predictor`` serving ``bundle``: ``POST /items`` (``ItemAdder``, the LM
    loaded now, the served table growing with the bundle; a bundle of generated item rows
    is refused, as its network must be reloaded). Without one: ``elec items add`` on the
    rows (a bundle of generated item rows too, the LM loaded each call)."""
    if predictor is not None:  # item_encoder refuses a bundle without an item table
        return ItemAdder(Path(bundle), predictor.items, item_encoder(bundle, Reporter(quiet=True)))

    def add(rows: list[dict]) -> dict:
        added, known = add_from_table(bundle, pa.Table.from_pylist(rows), Reporter(quiet=True))
        return {"added": added, "in_table_already": known}
    return add
