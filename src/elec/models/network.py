"""A backbone behind the shared embedding layer: tabular batch -> (logit, representation)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from elec.config import ModelConfig
from elec.data.batches import Columns
from elec.data.schema import FeatureSchema
from elec.models.layers import FeaturesEmbedding, init_linear
from elec.models.registry import build_backbone


class CTRNetwork(nn.Module):
    """Embeds the tabular fields and runs a backbone over them.

    ``extra_fields`` reserves slots for vectors supplied by the caller (the gain
    network's LM field), appended after the tabular fields.
    """

    def __init__(self, schema: FeatureSchema, cfg: ModelConfig, extra_fields: int = 0):
        super().__init__()
        self.embedding = FeaturesEmbedding(schema.single_sizes, schema.multi_sizes,
                                           cfg.embedding_dim)
        self.backbone = build_backbone(cfg.name, self.embedding.num_fields + extra_fields,
                                       cfg.embedding_dim, cfg.params)
        init_linear(self.backbone)
        self.embedding_dim = cfg.embedding_dim

    @property
    def repr_dim(self) -> int:
        return self.backbone.repr_dim

    def forward(self, batch: Columns, extra: Tensor | None = None,
                residual: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """extra: (batch, extra_fields, dim) or None; residual: added to the embedding
        table's vectors (see FeaturesEmbedding) -> logit (batch,), repr (batch, repr_dim)."""
        fields = self.embedding(batch.single, batch.multi, residual)
        if extra is not None:
            fields = torch.cat([fields, extra], dim=1)
        return self.backbone(fields)
