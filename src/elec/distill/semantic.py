"""Semantic-ID item embeddings (``item_sid``): items whose texts mean alike share
embedding rows, so a rare or new item starts from what its neighbours learnt.

    e(item) = E[item] + sum_l C[(c_1, ..., c_l)]

c_1..c_L is the item text's semantic ID: its LM vector (L2-normalised) quantised by
residual k-means, level 1 the nearest of CODES centroids, level 2 the nearest centroid of
the residual, and so on. Each prefix of the ID has a learnt row C, as the prefix n-grams
of Singh et al., "Better Generalization with Semantic IDs" (RecSys 2024). The centroids
are fitted on the training rows' items; the network is trained as the backbone is. A new
item's id is out of vocabulary, so its embedding is the unseen id's row plus its prefixes'.
At export every item's sum is written into the embedding table (``served_item_rows``):
the served network is the backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from elec.config import ModelConfig
from elec.data.batches import Columns
from elec.data.encoder import FIRST, OOV
from elec.data.schema import FeatureSchema
from elec.distill.networks import LLM_VECTOR
from elec.models import CTRNetwork
from elec.models.item_rows import a_row_of, prefix_count, prefix_rows, semantic_ids


class SemanticIdNetwork(nn.Module):
    """The backbone whose item embedding adds the rows of its text's semantic-ID prefixes."""

    LEVELS = 3
    CODES = 32  # per level (at most the number of training items)

    def __init__(self, schema: FeatureSchema, model: ModelConfig, item_slot: int,
                 codebooks: Tensor):
        super().__init__()
        self.network = CTRNetwork(schema, model)
        self.item_slot = item_slot
        self.register_buffer("codebooks", codebooks.float())  # (levels, codes, LM width)
        self.prefixes = nn.Embedding(prefix_count(*codebooks.shape[:2]), model.embedding_dim)
        nn.init.normal_(self.prefixes.weight, std=1e-4)  # as the embedding table

    def shared(self, vectors: Tensor) -> Tensor:
        """The sum of the prefix rows of ``vectors``' semantic IDs: (rows, dim)."""
        codes = semantic_ids(self.codebooks, vectors)
        return self.prefixes(prefix_rows(codes, self.codebooks.shape[1])).sum(1)

    def forward(self, batch: Columns) -> tuple[Tensor, Tensor]:
        fields = self.network.embedding(batch.single, batch.multi)
        item = fields[:, self.item_slot] + self.shared(batch.extra[LLM_VECTOR])
        fields = torch.cat([fields[:, :self.item_slot], item.unsqueeze(1),
                            fields[:, self.item_slot + 1:]], dim=1)
        return self.network.backbone(fields)

    def loss(self, batch: Columns) -> Tensor:
        return F.binary_cross_entropy_with_logits(self(batch)[0], batch.label)

    def logit(self, batch: Columns) -> Tensor:
        return self(batch)[0]

    def item_row(self, ids: Tensor, vectors: Tensor) -> Tensor:
        """The item embedding of ids (out-of-vocabulary for new items) with these texts."""
        offset = self.network.embedding.single_offsets[self.item_slot]
        return self.network.embedding.table.weight[ids + offset] + self.shared(vectors)

    def generator(self) -> dict[str, Tensor]:
        """What turns a new item's LM vector into its row (``sid_rows``): the centroids,
        the prefix rows and the unseen id's row."""
        offset = self.network.embedding.single_offsets[self.item_slot]
        return {"codebooks": self.codebooks, "prefixes": self.prefixes.weight.detach(),
                "base": self.network.embedding.table.weight[OOV + offset].detach()}


def item_codebooks(train: Columns, item_slot: int, size: int, seed: int) -> Tensor:
    """The residual k-means centroids of the LM vectors of ``train``'s items (one vector
    per item id), (levels, codes, width)."""
    ids = train.single[:, item_slot]
    seen = torch.zeros(size, dtype=torch.bool, device=ids.device)
    seen[ids] = True
    seen[:FIRST] = False
    rows = a_row_of(ids, size)[seen.nonzero().squeeze(1)]
    return residual_kmeans(train.extra[LLM_VECTOR][rows].float(),
                           SemanticIdNetwork.LEVELS, SemanticIdNetwork.CODES, seed)


def residual_kmeans(vectors: Tensor, levels: int, codes: int, seed: int,
                    iterations: int = 25) -> Tensor:
    """Centroids of each level, fitted to the residuals the levels above leave."""
    generator = torch.Generator().manual_seed(seed)
    residual = F.normalize(vectors.cpu().double(), dim=1)
    codes = min(codes, len(residual))
    books = []
    for _ in range(levels):
        centroids = _kmeans(residual, codes, generator, iterations)
        books.append(centroids)
        residual = residual - centroids[_nearest(residual, centroids)]
    return torch.stack(books).float().to(vectors.device)


def _kmeans(x: Tensor, k: int, generator: torch.Generator, iterations: int) -> Tensor:
    """Lloyd's k-means from a k-means++ start; an emptied cluster keeps its centroid."""
    centroids = x[torch.randint(len(x), (1,), generator=generator)]
    for _ in range(1, k):
        far = torch.cdist(x, centroids).min(1).values.square()
        pick = (torch.multinomial(far, 1, generator=generator) if far.sum() > 0
                else torch.randint(len(x), (1,), generator=generator))
        centroids = torch.cat([centroids, x[pick]])
    for _ in range(iterations):
        nearest = _nearest(x, centroids)
        sums = torch.zeros_like(centroids).index_add_(0, nearest, x)
        counts = torch.bincount(nearest, minlength=k).unsqueeze(1)
        centroids = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
    return centroids


def _nearest(x: Tensor, centroids: Tensor) -> Tensor:
    return torch.cdist(x, centroids).argmin(1)
