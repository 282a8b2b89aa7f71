"""DCN-V2: Wang et al., "DCN V2: Improved Deep & Cross Network and Practical Lessons for
Web-scale Learning to Rank Systems", WWW 2021. Cross network and MLP, stacked or
in parallel, over the flattened embeddings."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from elec.models.base import Backbone, BackboneParams
from elec.models.layers import CrossNetworkV2, MultiLayerPerceptron


class DCNv2Params(BackboneParams):
    structure: Literal["parallel", "stacked"] = "parallel"
    cross_layers: int = 3
    hidden: list[int] = [400, 400, 400]
    dropout: float = 0.2
    batch_norm: bool = True


class DCNv2(Backbone):
    Params = DCNv2Params

    def __init__(self, num_fields: int, dim: int, params: DCNv2Params):
        super().__init__()
        width = num_fields * dim
        self.structure = params.structure
        self.cross = CrossNetworkV2(width, params.cross_layers)
        self.mlp = MultiLayerPerceptron(width, params.hidden, params.dropout, params.batch_norm)
        self.repr_dim = (width + self.mlp.output_dim if params.structure == "parallel"
                         else self.mlp.output_dim)
        self.output = nn.Linear(self.repr_dim, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), representation (batch, repr_dim)."""
        flat = x.flatten(1)
        if self.structure == "stacked":
            hidden = self.mlp(self.cross(flat))
        else:
            hidden = torch.cat([self.cross(flat), self.mlp(flat)], dim=-1)
        return self.output(hidden).squeeze(-1), hidden
