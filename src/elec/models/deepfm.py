"""DeepFM: Guo et al., "DeepFM: A Factorization-Machine based Neural Network for CTR
Prediction", IJCAI 2017. logit = linear + FM + MLP, all over one shared embedding."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from elec.models.base import Backbone, BackboneParams
from elec.models.layers import FactorizationMachine, FieldLinear, MultiLayerPerceptron


class DeepFMParams(BackboneParams):
    hidden: list[int] = [400, 400, 400]
    dropout: float = 0.2
    batch_norm: bool = True


class DeepFM(Backbone):
    Params = DeepFMParams

    def __init__(self, num_fields: int, dim: int, params: DeepFMParams):
        super().__init__()
        self.linear = FieldLinear(num_fields, dim)
        self.fm = FactorizationMachine()
        self.mlp = MultiLayerPerceptron(num_fields * dim, params.hidden, params.dropout,
                                        params.batch_norm)
        self.mlp_output = nn.Linear(self.mlp.output_dim, 1)
        self.repr_dim = dim + self.mlp.output_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), representation (batch, dim + hidden)."""
        interaction = self.fm(x)
        hidden = self.mlp(x.flatten(1))
        logit = self.linear(x) + interaction.sum(-1, keepdim=True) + self.mlp_output(hidden)
        return logit.squeeze(-1), torch.cat([interaction, hidden], dim=-1)
