"""xDeepFM: Lian et al., "xDeepFM: Combining Explicit and Implicit Feature Interactions
for Recommender Systems", KDD 2018. logit = linear + CIN + MLP."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from elec.models.base import Backbone
from elec.models.dnn import DNNParams
from elec.models.layers import CompressedInteractionNetwork, FieldLinear, MultiLayerPerceptron


class XDeepFMParams(DNNParams):
    cin_layers: list[int] = [100, 100]
    split_half: bool = True


class XDeepFM(Backbone):
    Params = XDeepFMParams

    def __init__(self, num_fields: int, dim: int, params: XDeepFMParams):
        super().__init__()
        self.linear = FieldLinear(num_fields, dim)
        self.cin = CompressedInteractionNetwork(num_fields, params.cin_layers, params.split_half)
        self.mlp = MultiLayerPerceptron(num_fields * dim, params.hidden, params.dropout,
                                        params.batch_norm)
        self.cin_output = nn.Linear(self.cin.output_dim, 1)
        self.mlp_output = nn.Linear(self.mlp.output_dim, 1)
        self.repr_dim = self.cin.output_dim + self.mlp.output_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), representation (batch, cin + hidden)."""
        cin, hidden = self.cin(x), self.mlp(x.flatten(1))
        logit = self.linear(x) + self.cin_output(cin) + self.mlp_output(hidden)
        return logit.squeeze(-1), torch.cat([cin, hidden], dim=-1)
