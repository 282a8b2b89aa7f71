"""A served embedding table's item rows made from the items' texts: the rows of every
item a run saw written in place of the trained ones, new items' ids added to the
vocabulary (``grown``), and the generator that makes a later new item's row from its
text's LM vector (item_gen and vanilla_gen: a linear map). What serving needs of those
methods, without their training code (which makes the rows:
``elec.distill.generated.served_item_rows``)."""

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
    """New items' rows: their texts' LM vectors through the fitted generator."""
    return F.linear(hidden.float(), generator["weight"], generator["bias"])


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
