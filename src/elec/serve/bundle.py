"""A serving bundle: the self-contained, pickle-free files of a served network (written
by ``elec export``, ``elec.exporter``), read and checked here.

    BUNDLE/
      manifest.json       format, model config, versions, metrics, sha256 of every file
      schema.json         the fitted encoders (vocabularies, buckets)
      model.safetensors   the network's weights
      items.safetensors   item_lm, vanilla_item, words: each item text's projected LM
                          vector (words: bag of words; the graphs read a row's vector as
                          a third input), and the projection
      generator.safetensors  item_gen, vanilla_gen: the generator of new items'
                          embedding rows from their texts' LM vectors (the
                          graphs are the backbone's: the rows are in the embedding
                          table, new items' ids in the vocabulary)
      model.torchscript   optional (--format torchscript)
      model.onnx          optional (--format onnx; needs the onnx extra)
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from elec.data.schema import FeatureSchema
from elec.data.store import holds_only, sha256_file
from elec.models import CTRNetwork
from elec.serve.module import ItemServingModule, ServingModule

FORMAT = "elec.bundle/1"
ITEMS_FILE = "items.safetensors"  # item_lm's table
GENERATOR_FILE = "generator.safetensors"  # item_gen's generator of new items' rows


class BundleError(RuntimeError):
    pass


def example_inputs(schema: FeatureSchema, item_dim: int = 0, batch: int = 2
                   ) -> tuple[torch.Tensor, ...]:
    single = torch.zeros(batch, len(schema.single), dtype=torch.long)
    multi = torch.zeros(batch, sum(f.max_len for f in schema.multi), dtype=torch.long)
    return (single, multi, torch.zeros(batch, item_dim)) if item_dim else (single, multi)


def serving_module(network: CTRNetwork, schema: FeatureSchema, items: bool) -> ServingModule:
    """The served module: the network alone, or reading its item vectors as an input."""
    widths = [f.max_len for f in schema.multi]
    return (ItemServingModule if items else ServingModule)(network, widths)


def is_bundle(path: Path) -> bool:
    """A directory that holds an elec bundle and nothing else: what ``--force`` may replace."""
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        return (manifest.get("format") == FORMAT
                and holds_only(path, [*manifest["sha256"], "manifest.json"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def write_network(staging: Path, network: CTRNetwork, schema: FeatureSchema, item_dim: int,
                  formats: tuple[str, ...]) -> None:
    """The network's weights, encoders and the graphs of ``formats`` into ``staging``
    (``item_dim``: the width of the item vectors its graphs read, 0 for none)."""
    save_file({k: v.contiguous() for k, v in network.state_dict().items()},
              str(staging / "model.safetensors"))
    schema.save(staging / "schema.json")
    module = serving_module(network, schema, bool(item_dim)).eval()
    inputs = example_inputs(schema, item_dim)
    if "torchscript" in formats:
        with torch.no_grad():
            torch.jit.trace(module, inputs).save(str(staging / "model.torchscript"))
    if "onnx" in formats:
        _export_onnx(module, inputs, staging / "model.onnx")


def _export_onnx(module: ServingModule, inputs: tuple, path: Path) -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise BundleError("ONNX export needs the onnx extra: pip install 'elec[onnx]'") from None
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(module, inputs, dynamo=True,
                                input_names=["single", "multi", "item"][:len(inputs)],
                                output_names=["probability"],
                                dynamic_shapes=tuple({0: batch} for _ in inputs))
    program.save(str(path))


def read_manifest(bundle: Path) -> dict:
    path = Path(bundle) / "manifest.json"
    if not path.is_file():
        raise BundleError(f"{bundle} is not an elec bundle (no manifest.json); "
                          f"make one with `elec export RUN_DIR --out {bundle}`")
    try:
        manifest = json.loads(path.read_text())
        checksums = dict(manifest["sha256"])
    except (ValueError, KeyError, TypeError):
        raise BundleError(f"{path} is not a readable manifest: the bundle is corrupt; export "
                          f"it again") from None
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{bundle}: unsupported bundle format {manifest.get('format')!r}")
    for name, digest in checksums.items():
        file = Path(bundle) / name
        if name != "manifest.json" and (not file.is_file() or sha256_file(file) != digest):
            raise BundleError(f"{file} is missing or does not match its checksum: the bundle "
                              f"is corrupt; export it again")
    return manifest
