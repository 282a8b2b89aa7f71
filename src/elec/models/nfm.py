"""NFM: He and Chua, "Neural Factorization Machines for Sparse Predictive Analytics",
SIGIR 2017. An MLP over the bi-interaction pooling of the embeddings, plus a linear term."""

from __future__ import annotations

from torch import Tensor, nn

from elec.models.base import Backbone
from elec.models.dnn import DNNParams
from elec.models.layers import FactorizationMachine, FieldLinear, MultiLayerPerceptron


class NFM(Backbone):
    Params = DNNParams

    def __init__(self, num_fields: int, dim: int, params: DNNParams):
        super().__init__()
        self.linear = FieldLinear(num_fields, dim)
        self.bi_interaction = FactorizationMachine()
        self.pooling_norm = nn.BatchNorm1d(dim)
        self.mlp = MultiLayerPerceptron(dim, params.hidden, params.dropout, params.batch_norm)
        self.output = nn.Linear(self.mlp.output_dim, 1)
        self.repr_dim = self.mlp.output_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> logit (batch,), representation (batch, hidden)."""
        hidden = self.mlp(self.pooling_norm(self.bi_interaction(x)))
        return (self.linear(x) + self.output(hidden)).squeeze(-1), hidden
