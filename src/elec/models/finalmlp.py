"""FinalMLP: Mao et al., "FinalMLP: An Enhanced Two-Stream MLP Model for CTR
Prediction", AAAI 2023. Two MLP streams, each behind its own feature-selection gate,
fused by multi-head bilinear aggregation."""

from __future__ import annotations

import torch
from torch import Tensor

from elec.models.base import Backbone, BackboneParams
from elec.models.gating import FeatureSelection, InteractionAggregation
from elec.models.layers import MultiLayerPerceptron


class FinalMLPParams(BackboneParams):
    hidden1: list[int] = [400, 400, 400]
    hidden2: list[int] = [800]
    dropout1: float = 0.2
    dropout2: float = 0.2
    batch_norm: bool = True
    selection_hidden: int = 800
    heads: int = 1


class FinalMLP(Backbone):
    Params = FinalMLPParams

    def __init__(self, num_fields: int, dim: int, params: FinalMLPParams):
        super().__init__()
        width = num_fields * dim
        self.select1 = FeatureSelection(width, dim, params.selection_hidden)
        self.select2 = FeatureSelection(width, dim, params.selection_hidden)
        self.mlp1 = MultiLayerPerceptron(width, params.hidden1, params.dropout1,
                                         params.batch_norm)
        self.mlp2 = MultiLayerPerceptron(width, params.hidden2, params.dropout2,
                                         params.batch_norm)
        self.fusion = InteractionAggregation(self.mlp1.output_dim, self.mlp2.output_dim,
                                             params.heads)
        self.repr_dim = self.mlp1.output_dim + self.mlp2.output_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), both streams (batch, repr_dim)."""
        flat = x.flatten(1)
        stream1, stream2 = self.mlp1(self.select1(flat)), self.mlp2(self.select2(flat))
        return self.fusion(stream1, stream2).squeeze(-1), torch.cat([stream1, stream2], dim=-1)
