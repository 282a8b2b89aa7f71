"""DNN: an MLP over the concatenated field embeddings (the deep part of
Covington et al., "Deep Neural Networks for YouTube Recommendations", RecSys 2016)."""

from __future__ import annotations

from torch import Tensor, nn

from elec.models.base import Backbone, BackboneParams
from elec.models.layers import MultiLayerPerceptron


class DNNParams(BackboneParams):
    hidden: list[int] = [400, 400, 400]
    dropout: float = 0.2
    batch_norm: bool = True


class DNN(Backbone):
    Params = DNNParams

    def __init__(self, num_fields: int, dim: int, params: DNNParams):
        super().__init__()
        self.mlp = MultiLayerPerceptron(num_fields * dim, params.hidden, params.dropout,
                                        params.batch_norm)
        self.output = nn.Linear(self.mlp.output_dim, 1)
        self.repr_dim = self.mlp.output_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), representation (batch, repr_dim)."""
        hidden = self.mlp(x.flatten(1))
        return self.output(hidden).squeeze(-1), hidden
