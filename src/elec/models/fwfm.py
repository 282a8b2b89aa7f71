"""FwFM: Pan et al., "Field-weighted Factorization Machines for Click-Through Rate
Prediction in Display Advertising", WWW 2018. Each field pair gets its own weight."""

from __future__ import annotations

from torch import Tensor

from elec.models.base import Backbone, BackboneParams
from elec.models.layers import FieldLinear, FieldWeightedInteraction


class FwFM(Backbone):
    Params = BackboneParams

    def __init__(self, num_fields: int, dim: int, params: BackboneParams):
        super().__init__()
        self.linear = FieldLinear(num_fields, dim)
        self.interaction = FieldWeightedInteraction(num_fields)
        self.repr_dim = dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), weighted interaction (batch, dim)."""
        interaction = self.interaction(x)
        return (self.linear(x) + interaction.sum(-1, keepdim=True)).squeeze(-1), interaction
