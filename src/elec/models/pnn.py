"""PNN (inner product): Qu et al., "Product-based Neural Networks for User Response
Prediction", ICDM 2016. The MLP reads the embeddings and all pairwise inner products."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from elec.models.base import Backbone
from elec.models.dnn import DNNParams
from elec.models.layers import InnerProduct, MultiLayerPerceptron


class PNN(Backbone):
    Params = DNNParams

    def __init__(self, num_fields: int, dim: int, params: DNNParams):
        super().__init__()
        self.product = InnerProduct(num_fields)
        self.mlp = MultiLayerPerceptron(num_fields * dim + self.product.output_dim,
                                        params.hidden, params.dropout, params.batch_norm)
        self.output = nn.Linear(self.mlp.output_dim, 1)
        self.repr_dim = self.mlp.output_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), representation (batch, hidden)."""
        hidden = self.mlp(torch.cat([x.flatten(1), self.product(x)], dim=1))
        return self.output(hidden).squeeze(-1), hidden
