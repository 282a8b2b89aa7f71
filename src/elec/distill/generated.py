"""Item id embeddings generated from the LM vector of the item's text (``item_gen``,
``vanilla_gen``): what the LM knows of a rare or new item, served by a plain backbone.

    e(item) = w E[item] + (1 - w) (W h(item text) + b),    w = n / (n + prior)

n is the item's training rows (0 for a new item, whose id is out of vocabulary). W, b is a
ridge regression of a trained network's learnt embeddings of the items with at least
FIT_ROWS training rows on their texts' vectors, as content-based cold start regresses
latent factors on content (van den Oord et al., NeurIPS 2013; Meta-Embedding, Pan et al.,
SIGIR 2019, and CVAR, Zhao et al., SIGIR 2022, learn such a generator by the loss). The
network is not retrained; the ridge penalty and ``prior`` are chosen on the validation
rows. Every item's blended row is then written into the embedding table, new items' ids
into the vocabulary (``item_rows``, ``grown``): the served network is the backbone.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from elec.config import ModelConfig
from elec.data.batches import Columns
from elec.data.encoder import FIRST, MISSING, OOV
from elec.data.schema import FeatureSchema
from elec.distill.networks import LLM_VECTOR
from elec.models import CTRNetwork


class GeneratedNetwork(nn.Module):
    """A trained network whose item id embedding is blended with a generated one."""

    FIT_ROWS = 10
    PENALTIES = (0.01, 0.1, 1.0, 10.0)  # times the vectors' summed variance
    PRIORS = (1.0, 3.0, 10.0, 30.0, 100.0)

    def __init__(self, trained: CTRNetwork, llm_dim: int, item_slot: int, counts: Tensor):
        super().__init__()
        self.network = copy.deepcopy(trained).requires_grad_(False).eval()
        self.llm_projection = nn.Linear(llm_dim, trained.embedding_dim).requires_grad_(False)
        self.item_slot = item_slot
        counts = counts.float().clone()
        counts[:FIRST] = 0.0  # missing and out-of-vocabulary ids: no learnt embedding
        self.register_buffer("item_rows", counts)
        self.register_buffer("prior", torch.tensor(10.0))

    def learnt_share(self) -> Tensor:
        """w of every id of the item field (a missing id keeps its learnt embedding)."""
        share = self.item_rows / (self.item_rows + self.prior)
        share[MISSING] = 1.0
        return share

    def forward(self, batch: Columns) -> tuple[Tensor, Tensor]:
        fields = self.network.embedding(batch.single, batch.multi)
        generated = self.llm_projection(batch.extra[LLM_VECTOR])
        share = self.learnt_share()[batch.single[:, self.item_slot]].unsqueeze(1)
        item = share * fields[:, self.item_slot] + (1 - share) * generated
        fields = torch.cat([fields[:, :self.item_slot], item.unsqueeze(1),
                            fields[:, self.item_slot + 1:]], dim=1)
        return self.network.backbone(fields)

    def logit(self, batch: Columns) -> Tensor:
        return self(batch)[0]

    def _learnt(self, ids: Tensor) -> Tensor:
        offset = self.network.embedding.single_offsets[self.item_slot]
        return self.network.embedding.table.weight[ids + offset]

    def fit(self, train: Columns, score: Callable[[], float]) -> dict[str, float]:
        """Regress the learnt embeddings on the text vectors of ``train``'s items (one row
        per item with FIT_ROWS training rows or more), for each penalty; keep the penalty
        and prior with the highest ``score()`` (the validation AUC). Every pair's score."""
        fitted = (self.item_rows >= self.FIT_ROWS).nonzero().squeeze(1)
        vectors = train.extra[LLM_VECTOR][a_row_of(train.single[:, self.item_slot],
                                                   len(self.item_rows))[fitted]].double()
        learnt = self._learnt(fitted).double()
        mean_v, mean_e = vectors.mean(0), learnt.mean(0)
        x, y = vectors - mean_v, learnt - mean_e
        gram, scale = x.T @ x, x.var(0).sum().item()
        scores, best = {}, (-1.0, None, None)
        for penalty in self.PENALTIES:
            ridge = gram + penalty * scale * torch.eye(len(gram), dtype=gram.dtype)
            weight = torch.linalg.solve(ridge, x.T @ y).T
            self.llm_projection.weight.copy_(weight)
            self.llm_projection.bias.copy_(mean_e - weight @ mean_v)
            for prior in self.PRIORS:
                self.prior.fill_(prior)
                scores[f"penalty {penalty} prior {prior}"] = auc = score()
                if auc > best[0]:
                    best = (auc, prior, copy.deepcopy(self.llm_projection.state_dict()))
        self.prior.fill_(best[1])
        self.llm_projection.load_state_dict(best[2])
        return scores

    def item_rows_served(self, columns: dict[str, Columns], keys: dict[str, list[str | None]]
                         ) -> tuple[Tensor, list[str]]:
        """The item field's embedding rows as served: every id of the vocabulary blended
        with the generated row of its text, then a generated row for each new id (out of
        vocabulary) that ``columns`` hold, in order of first appearance (``keys``: split ->
        each row's item id as the vocabulary keys it); and the new ids."""
        rows = self._learnt(torch.arange(len(self.item_rows), device=self.prior.device))
        share = self.learnt_share().unsqueeze(1)
        done = torch.zeros(len(self.item_rows), dtype=torch.bool, device=rows.device)
        done[:FIRST] = True  # missing and unseen ids keep their rows
        new: dict[str, Tensor] = {}
        for split, part in columns.items():
            ids, vectors = part.single[:, self.item_slot], part.extra[LLM_VECTOR]
            seen = torch.zeros_like(done)
            seen[ids] = True
            known = (seen & ~done).nonzero().squeeze(1)
            generated = self.llm_projection(vectors[a_row_of(ids, len(done))[known]])
            rows[known] = share[known] * rows[known] + (1 - share[known]) * generated
            done[known] = True
            for r in (ids == OOV).nonzero().squeeze(1).tolist():
                key = keys[split][r]
                if key is not None and key not in new:
                    new[key] = vectors[r]
        if not new:
            return rows, []
        return torch.cat([rows, self.llm_projection(torch.stack(list(new.values())))]), list(new)


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


def generated_rows(hidden: Tensor, projection: dict[str, Tensor]) -> Tensor:
    """New items' rows: their texts' LM vectors through the fitted generator."""
    return F.linear(hidden.float(), projection["weight"], projection["bias"])


def generated_checkpoint(rows: Tensor, keys: list[str], fields: list[str], llm: dict,
                         projection: nn.Linear) -> dict[str, Tensor]:
    """What a bundle of a generated method is made of, beside the trained network: the
    item field's served rows and new ids (``item_rows_served``), the fields an item's text
    is rendered from, the LM that encoded them and the generator, for new items later."""
    about = json.dumps({"keys": keys, "fields": fields, "llm": llm}).encode()
    return {"rows": rows.detach().float().cpu(),
            "about_json": torch.frombuffer(bytearray(about), dtype=torch.uint8),
            "generator.weight": projection.weight.detach().float().cpu(),
            "generator.bias": projection.bias.detach().float().cpu()}


def read_generated_checkpoint(tensors: dict[str, Tensor]) -> tuple[Tensor, dict,
                                                                   dict[str, Tensor]]:
    """rows, {"keys", "fields", "llm"}, the generator's weight and bias."""
    about = json.loads(bytes(tensors["about_json"].numpy()).decode())
    return tensors["rows"], about, {k: tensors[f"generator.{k}"] for k in ("weight", "bias")}
