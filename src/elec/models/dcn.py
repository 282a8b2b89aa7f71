"""DCN: Wang et al., "Deep & Cross Network for Ad Click Predictions", ADKDD 2017.
A cross network and an MLP in parallel over the flattened embeddings."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from elec.models.base import Backbone
from elec.models.dnn import DNNParams
from elec.models.layers import CrossNetwork, MultiLayerPerceptron


class DCNParams(DNNParams):
    cross_layers: int = 3


class DCN(Backbone):
    Params = DCNParams

    def __init__(self, num_fields: int, dim: int, params: DCNParams):
        super().__init__()
        width = num_fields * dim
        self.cross = CrossNetwork(width, params.cross_layers)
        self.mlp = MultiLayerPerceptron(width, params.hidden, params.dropout, params.batch_norm)
        self.repr_dim = width + self.mlp.output_dim
        self.output = nn.Linear(self.repr_dim, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), representation (batch, repr_dim)."""
        flat = x.flatten(1)
        hidden = torch.cat([self.cross(flat), self.mlp(flat)], dim=-1)
        return self.output(hidden).squeeze(-1), hidden
