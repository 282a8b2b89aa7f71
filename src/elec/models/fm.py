"""FM: Rendle, "Factorization Machines", ICDM 2010. logit = linear + sum_{i<j} <e_i, e_j>."""

from __future__ import annotations

from torch import Tensor

from elec.models.base import Backbone, BackboneParams
from elec.models.layers import FactorizationMachine, FieldLinear


class FM(Backbone):
    Params = BackboneParams

    def __init__(self, num_fields: int, dim: int, params: BackboneParams):
        super().__init__()
        self.linear = FieldLinear(num_fields, dim)
        self.fm = FactorizationMachine()
        self.repr_dim = dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), interaction vector (batch, dim)."""
        interaction = self.fm(x)
        return (self.linear(x) + interaction.sum(-1, keepdim=True)).squeeze(-1), interaction
