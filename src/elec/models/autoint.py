"""AutoInt+: Song et al., "AutoInt: Automatic Feature Interaction Learning via
Self-Attentive Neural Networks", CIKM 2019. Self-attention across fields (interacting
layers with residual links) plus an MLP ("+")."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from elec.models.base import Backbone
from elec.models.dnn import DNNParams
from elec.models.layers import MultiHeadSelfAttention, MultiLayerPerceptron


class AutoIntParams(DNNParams):
    attention_layers: int = 3
    attention_dim: int = 64
    heads: int = 2


class AutoIntPlus(Backbone):
    Params = AutoIntParams

    def __init__(self, num_fields: int, dim: int, params: AutoIntParams):
        super().__init__()
        layers, width = [], dim
        for _ in range(params.attention_layers):
            layers.append(MultiHeadSelfAttention(width, params.attention_dim, params.heads))
            width = params.attention_dim
        self.attention = nn.Sequential(*layers)
        self.mlp = MultiLayerPerceptron(num_fields * dim, params.hidden, params.dropout,
                                        params.batch_norm)
        self.attention_output = nn.Linear(num_fields * width, 1)
        self.mlp_output = nn.Linear(self.mlp.output_dim, 1)
        self.repr_dim = num_fields * width + self.mlp.output_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), representation (batch, repr_dim)."""
        attended = self.attention(x).flatten(1)
        hidden = self.mlp(x.flatten(1))
        logit = self.attention_output(attended) + self.mlp_output(hidden)
        return logit.squeeze(-1), torch.cat([attended, hidden], dim=-1)
