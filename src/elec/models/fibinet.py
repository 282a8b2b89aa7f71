"""FiBiNET: Huang et al., "FiBiNET: Combining Feature Importance and Bilinear feature
Interaction for Click-Through Rate Prediction", RecSys 2019. SENET re-weights the
fields; bilinear interactions of the original and re-weighted embeddings feed an MLP."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from elec.models.base import Backbone
from elec.models.dnn import DNNParams
from elec.models.gating import BilinearInteraction, SqueezeExcitation
from elec.models.layers import FieldLinear, MultiLayerPerceptron


class FiBiNETParams(DNNParams):
    reduction: int = 3


class FiBiNET(Backbone):
    Params = FiBiNETParams

    def __init__(self, num_fields: int, dim: int, params: FiBiNETParams):
        super().__init__()
        self.linear = FieldLinear(num_fields, dim)
        self.senet = SqueezeExcitation(num_fields, params.reduction)
        self.bilinear = BilinearInteraction(num_fields, dim)
        self.bilinear_senet = BilinearInteraction(num_fields, dim)
        self.mlp = MultiLayerPerceptron(2 * self.bilinear.output_dim, params.hidden,
                                        params.dropout, params.batch_norm)
        self.output = nn.Linear(self.mlp.output_dim, 1)
        self.repr_dim = self.mlp.output_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), representation (batch, hidden)."""
        pairs = torch.cat([self.bilinear(x), self.bilinear_senet(self.senet(x))], dim=1)
        hidden = self.mlp(pairs)
        return (self.linear(x) + self.output(hidden)).squeeze(-1), hidden
