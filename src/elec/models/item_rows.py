"""A served embedding table's item rows made from the items' texts: the rows of every
item a run saw written in place of the trained ones, new items' ids added to the
vocabulary (``grown``), and the generator that makes a later new item's row from its
text's LM vector (item_gen and vanilla_gen: a linear map; item_sid: its semantic ID's
prefix rows). What serving needs of those methods, without their training code (which
makes the rows: ``elec.distill.generated.served_item_rows``)."""

from __future__ import annotations

import json
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from elec.config import ModelConfig
from elec.data.schema import FeatureSchema
from elec.models import CTRNetwork


def a_row_of(ids: Tensor, size: int) -> Tensor:
    """For each of ``size`` ids, one row of ``ids`` that holds it (0 where none does)."""
    row = torch.zeros(size, dtype=torch.long, device=ids.device)
    return row.scatter_reduce_(0, ids, torch.arange(len(ids), device=ids.device), "amax")


def field_rows(network: CTRNetwork, schema: FeatureSchema, field: str) -> Tensor:
    """The embedding rows of single-valued field ``field`` (every id of its vocabulary)."""
    offset = sum(schema.single_sizes[:schema.single_column(field)])
    size = schema.single[schema.single_column(field)].size
    return network.embedding.table.weight.detach()[offset:offset + size]


def grown(network: CTRNetwork, schema: FeatureSchema, model: ModelConfig, field: str,
          rows: Tensor, keys: list[str]) -> tuple[CTRNetwork, FeatureSchema]:
    """``network`` and ``schema`` with single-valued field ``field``'s embedding rows
    replaced by ``rows``: its vocabulary's, then one for each of ``keys``, new ids added to
    the vocabulary in that order."""
    position = schema.single_column(field)
    fitted = schema.single[position]
    if len(rows) != fitted.size + len(keys):
        raise ValueError(f"{len(rows)} rows for {fitted.size} ids and {len(keys)} new ones")
    wider = FeatureSchema([replace(f, vocab=[*f.vocab, *keys]) if f is fitted else f
                           for f in schema.fields])
    offset = sum(schema.single_sizes[:position])
    table = network.embedding.table.weight.detach()
    state = {k: v for k, v in network.state_dict().items() if k != "embedding.table.weight"}
    state["embedding.table.weight"] = torch.cat(
        [table[:offset], rows.to(table.dtype), table[offset + fitted.size:]])
    served = CTRNetwork(wider, model)
    served.load_state_dict(state)
    return served.eval(), wider


def generated_rows(hidden: Tensor, generator: dict[str, Tensor]) -> Tensor:
    """New items' rows from their texts' LM vectors: through the fitted linear generator
    (item_gen, vanilla_gen), or the unseen id's row plus the prefix rows of their
    semantic IDs (item_sid)."""
    if "codebooks" not in generator:
        return F.linear(hidden.float(), generator["weight"], generator["bias"])
    codebooks = generator["codebooks"]
    rows = prefix_rows(semantic_ids(codebooks, hidden.float()), codebooks.shape[1])
    return generator["base"] + generator["prefixes"][rows].sum(1)


def generated_checkpoint(rows: Tensor, keys: list[str], fields: list[str], llm: dict,
                         generator: dict[str, Tensor]) -> dict[str, Tensor]:
    """What a bundle whose item rows come from text is made of, beside the trained
    network: the item field's served rows and new ids (``served_item_rows``), the fields an
    item's text is rendered from, the LM that encoded them and the generator, for new
    items later (``generated_rows``)."""
    about = json.dumps({"keys": keys, "fields": fields, "llm": llm}).encode()
    return {"rows": rows.detach().float().cpu(),
            "about_json": torch.frombuffer(bytearray(about), dtype=torch.uint8),
            **{f"generator.{k}": v.detach().float().cpu() for k, v in generator.items()}}


def read_generated_checkpoint(tensors: dict[str, Tensor]) -> tuple[Tensor, dict,
                                                                   dict[str, Tensor]]:
    """rows, {"keys", "fields", "llm"}, the generator's tensors."""
    about = json.loads(bytes(tensors["about_json"].numpy()).decode())
    return tensors["rows"], about, {k.removeprefix("generator."): v for k, v in tensors.items()
                                    if k.startswith("generator.")}


def semantic_ids(codebooks: Tensor, vectors: Tensor) -> Tensor:
    """Each vector's codes, level by level: (rows, levels)."""
    residual = F.normalize(vectors.float(), dim=1)
    codes = []
    for centroids in codebooks:
        nearest = torch.cdist(residual, centroids).argmin(1)
        codes.append(nearest)
        residual = residual - centroids[nearest]
    return torch.stack(codes, dim=1)


def prefix_count(levels: int, codes: int) -> int:
    """How many prefixes (c_1), (c_1, c_2), ... there are: the rows of C."""
    return sum(codes ** (level + 1) for level in range(levels))


def prefix_rows(codes: Tensor, k: int) -> Tensor:
    """The row of C of every prefix of every semantic ID: (rows, levels)."""
    rows, prefix, offset = [], torch.zeros_like(codes[:, 0]), 0
    for level in range(codes.shape[1]):
        prefix = prefix * k + codes[:, level]
        rows.append(offset + prefix)
        offset += k ** (level + 1)
    return torch.stack(rows, dim=1)
