"""``elec items add``: new items into a bundle's item table, without retraining.

Each new item's text is rendered from the bundle's item fields as in training, encoded
once by the bundle's LM (through the vector cache) and projected by the trained
projection; the served graphs read item vectors as an input, so they stay as they are.
Only this command runs the LM: serving itself never does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import torch
from safetensors.torch import load_file, save_file

from elec.config import FieldSpec, LLMConfig, TextConfig
from elec.data.store import atomic_dir, sha256_file, write_json
from elec.environment import resolve_device
from elec.serve.bundle import ITEMS_FILE, BundleError, is_bundle, read_manifest
from elec.text.items import item_checkpoint, read_item_checkpoint, render_items
from elec.ui import Reporter


def add_items(bundle: str | Path, table: pa.Table, reporter: Reporter) -> tuple[int, int]:
    """Add the items of ``table``'s rows the bundle's table lacks; (added, already there).
    The bundle is rewritten whole or not at all."""
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    lookup = manifest.get("item_lookup")
    if not lookup:
        raise BundleError(f"{bundle} serves {manifest['method']!r}, which looks up no item "
                          f"vectors; export an item_lm network to add items to")
    fields = [FieldSpec.model_validate(f) for f in lookup["fields"]]
    missing = [f.name for f in fields if f.name not in table.column_names]
    if missing:
        raise BundleError(f"the items lack the fields {missing} an item's text is rendered "
                          f"from (this bundle reads {[f.name for f in fields]})")
    items = load_file(str(bundle / ITEMS_FILE))
    texts, names, vectors = read_item_checkpoint(items)
    known = set(texts)
    rendered = render_items(table, fields, TextConfig.model_validate(lookup["text"]))
    new = [t for t in dict.fromkeys(rendered) if t not in known]
    if not new:
        return 0, len(set(rendered))
    from elec.llm.stage1 import encode_texts  # the LM, for this command only

    hidden = encode_texts({"items": new}, LLMConfig.model_validate(lookup["llm"]),
                          resolve_device("auto"), reporter)["items"].cpu()
    projected = hidden @ items["projection.weight"].T + items["projection.bias"]
    items.update(item_checkpoint(texts + new, names, torch.cat([vectors, projected])))
    with atomic_dir(bundle, is_bundle) as staging:
        for name in manifest["sha256"]:
            if name != ITEMS_FILE:
                shutil.copyfile(bundle / name, staging / name)
        save_file({k: v.contiguous() for k, v in items.items()}, str(staging / ITEMS_FILE))
        manifest["item_lookup"]["items"] = len(texts) + len(new)
        manifest["sha256"][ITEMS_FILE] = sha256_file(staging / ITEMS_FILE)
        write_json(staging / "manifest.json", manifest)
    return len(new), len(set(rendered)) - len(new)
