"""LR: logistic regression, the first-order baseline (e.g. Richardson et al., "Predicting
Clicks: Estimating the Click-Through Rate for New Ads", WWW 2007)."""

from __future__ import annotations

from torch import Tensor

from elec.models.base import Backbone, BackboneParams
from elec.models.layers import FieldLinear


class LR(Backbone):
    Params = BackboneParams

    def __init__(self, num_fields: int, dim: int, params: BackboneParams):
        super().__init__()
        self.linear = FieldLinear(num_fields, dim)
        self.repr_dim = num_fields

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), per-field contributions (batch, fields)."""
        contributions = (x * self.linear.weight).sum(-1)
        return contributions.sum(-1) + self.linear.bias, contributions
