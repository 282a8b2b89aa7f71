"""A bundle's item table grown without retraining (``elec items add``).

Each new item's text is rendered from the bundle's item fields as in training; the
command puts it through the bundle's LM once and this module projects it by the trained
projection into the table. The served graphs read item vectors as an input, so they
stay as they are; serving itself never runs the LM.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from elec.config import FieldSpec, LLMConfig, TextConfig
from elec.data.store import atomic_dir, sha256_file, write_json
from elec.serve.bundle import ITEMS_FILE, BundleError, is_bundle, read_manifest
from elec.text.items import item_checkpoint, read_item_checkpoint, render_items


def new_items(bundle: str | Path, table: pa.Table) -> tuple[list[str], int, LLMConfig]:
    """The item texts of ``table``'s rows that ``bundle``'s table lacks, how many it has
    already, and the LM that turns texts into the vectors it holds."""
    manifest = read_manifest(bundle)
    lookup = manifest.get("item_lookup")
    if not lookup:
        raise BundleError(f"{bundle} serves {manifest['method']!r}, which looks up no item "
                          f"vectors; export item_lm or vanilla_item to add items to")
    fields = [FieldSpec.model_validate(f) for f in lookup["fields"]]
    missing = [f.name for f in fields if f.name not in table.column_names]
    if missing:
        raise BundleError(f"the items lack the fields {missing} an item's text is rendered "
                          f"from (this bundle reads {[f.name for f in fields]})")
    known = set(read_item_checkpoint(load_file(str(Path(bundle) / ITEMS_FILE)))[0])
    rendered = dict.fromkeys(render_items(table, fields,
                                          TextConfig.model_validate(lookup["text"])))
    new = [t for t in rendered if t not in known]
    return new, len(rendered) - len(new), LLMConfig.model_validate(lookup["llm"])


def add_items(bundle: str | Path, texts: list[str], hidden: torch.Tensor) -> None:
    """Put ``texts`` with their LM vectors ``hidden`` into the bundle's item table,
    projected by the trained projection; the bundle is rewritten whole or not at all."""
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    items = load_file(str(bundle / ITEMS_FILE))
    known, fields, vectors = read_item_checkpoint(items)
    projected = F.linear(hidden.float(), items["projection.weight"], items["projection.bias"])
    items.update(item_checkpoint(known + texts, fields, torch.cat([vectors, projected])))
    with atomic_dir(bundle, is_bundle) as staging:
        for name in manifest["sha256"]:
            if name != ITEMS_FILE:
                shutil.copyfile(bundle / name, staging / name)
        save_file({k: v.contiguous() for k, v in items.items()}, str(staging / ITEMS_FILE))
        manifest["item_lookup"]["items"] = len(known) + len(texts)
        manifest["sha256"][ITEMS_FILE] = sha256_file(staging / ITEMS_FILE)
        write_json(staging / "manifest.json", manifest)
