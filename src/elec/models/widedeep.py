"""Wide & Deep: Cheng et al., "Wide & Deep Learning for Recommender Systems", DLRS 2016.
logit = wide (first order) + deep (MLP)."""

from __future__ import annotations

from torch import Tensor, nn

from elec.models.base import Backbone
from elec.models.dnn import DNNParams
from elec.models.layers import FieldLinear, MultiLayerPerceptron


class WideDeep(Backbone):
    Params = DNNParams

    def __init__(self, num_fields: int, dim: int, params: DNNParams):
        super().__init__()
        self.wide = FieldLinear(num_fields, dim)
        self.deep = MultiLayerPerceptron(num_fields * dim, params.hidden, params.dropout,
                                         params.batch_norm)
        self.output = nn.Linear(self.deep.output_dim, 1)
        self.repr_dim = self.deep.output_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), representation (batch, hidden)."""
        hidden = self.deep(x.flatten(1))
        return (self.wide(x) + self.output(hidden)).squeeze(-1), hidden
