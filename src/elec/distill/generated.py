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
from collections.abc import Callable

import torch
from torch import Tensor, nn

from elec.data.batches import Columns
from elec.data.encoder import FIRST, MISSING, OOV
from elec.distill.networks import LLM_VECTOR
from elec.models import CTRNetwork
from elec.models.item_rows import a_row_of


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

    def item_row(self, ids: Tensor, vectors: Tensor) -> Tensor:
        """The item embedding of ids (out-of-vocabulary for new items) with these texts."""
        share = self.learnt_share()[ids].unsqueeze(1)
        return share * self._learnt(ids) + (1 - share) * self.llm_projection(vectors)

    def generator(self) -> dict[str, Tensor]:
        """What turns a new item's LM vector into its row (``generated_rows``)."""
        return {"weight": self.llm_projection.weight, "bias": self.llm_projection.bias}


def served_item_rows(network: nn.Module, size: int, columns: dict[str, Columns],
                     keys: dict[str, list[str | None]]) -> tuple[Tensor, list[str]]:
    """The item field's embedding rows as served by a network whose item embedding is
    computed from its text (``network.item_row(ids, vectors)``): every id of the
    vocabulary (``size`` ids) that ``columns`` hold, from its text; then a row for each new
    id (out of vocabulary) that ``columns`` hold, in order of first appearance (``keys``:
    split -> each row's item id as the vocabulary keys it); and the new ids. Ids no row
    holds (and the missing and unseen ids) keep their trained rows."""
    embedding, slot = network.network.embedding, network.item_slot
    offset = embedding.single_offsets[slot]
    rows = embedding.table.weight[offset:offset + size].detach().clone()
    done = torch.zeros(size, dtype=torch.bool, device=rows.device)
    done[:FIRST] = True
    new: dict[str, Tensor] = {}
    for split, part in columns.items():
        ids, vectors = part.single[:, slot], part.extra[LLM_VECTOR]
        seen = torch.zeros_like(done)
        seen[ids] = True
        known = (seen & ~done).nonzero().squeeze(1)
        rows[known] = network.item_row(known, vectors[a_row_of(ids, size)[known]])
        done[known] = True
        for r in (ids == OOV).nonzero().squeeze(1).tolist():
            key = keys[split][r]
            if key is not None and key not in new:
                new[key] = vectors[r]
    if not new:
        return rows, []
    unseen = torch.full((len(new),), OOV, dtype=torch.long, device=rows.device)
    return torch.cat([rows, network.item_row(unseen, torch.stack(list(new.values())))]), list(new)
