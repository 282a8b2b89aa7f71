"""Layers of the gating backbones: FiBiNET's field re-weighting and bilinear
interactions, FinalMLP's feature selection and two-stream aggregation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from elec.models.layers import FieldPairs


class SqueezeExcitation(nn.Module):
    """FiBiNET's SENET layer: re-weight each field by a learned function of all fields."""

    def __init__(self, num_fields: int, reduction: int = 3):
        super().__init__()
        hidden = max(1, num_fields // reduction)
        self.excitation = nn.Sequential(nn.Linear(num_fields, hidden), nn.ReLU(),
                                        nn.Linear(hidden, num_fields), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, fields, dim) -> (batch, fields, dim)."""
        return x * self.excitation(x.mean(-1)).unsqueeze(-1)


class BilinearInteraction(FieldPairs):
    """FiBiNET's bilinear layer ("field-all" type): (e_i W) * e_j for every pair."""

    def __init__(self, num_fields: int, dim: int):
        super().__init__(num_fields)
        self.weight = nn.Linear(dim, dim, bias=False)
        self.output_dim = self.num_pairs * dim

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, fields, dim) -> (batch, pairs * dim)."""
        left, right = self.pairs(x)
        return (self.weight(left) * right).flatten(1)


class FeatureSelection(nn.Module):
    """FinalMLP's gate: 2 * sigmoid(MLP(context)) scales each input unit; the context is
    a learned vector (no conditioning fields), as in FinalMLP's default."""

    def __init__(self, input_dim: int, context_dim: int, hidden: int):
        super().__init__()
        self.context = nn.Parameter(torch.zeros(1, context_dim))
        self.gate = nn.Sequential(nn.Linear(context_dim, hidden), nn.ReLU(),
                                  nn.Linear(hidden, input_dim))

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, input_dim) -> (batch, input_dim)."""
        return x * 2 * torch.sigmoid(self.gate(self.context))


class InteractionAggregation(nn.Module):
    """FinalMLP's fusion: w_x.x + w_y.y + sum_h x_h^T W_h y_h over heads."""

    def __init__(self, x_dim: int, y_dim: int, heads: int = 1):
        super().__init__()
        if x_dim % heads or y_dim % heads:
            raise ValueError(f"stream widths {x_dim}, {y_dim} are not divisible by heads {heads}")
        self.heads, self.x_head, self.y_head = heads, x_dim // heads, y_dim // heads
        self.linear_x = nn.Linear(x_dim, 1)
        self.linear_y = nn.Linear(y_dim, 1)
        self.bilinear = nn.Parameter(torch.empty(heads, self.x_head, self.y_head))
        nn.init.xavier_normal_(self.bilinear)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x: (batch, x_dim), y: (batch, y_dim) -> (batch, 1)."""
        xh = x.view(-1, self.heads, self.x_head)
        yh = y.view(-1, self.heads, self.y_head)
        bilinear = torch.einsum("bhi,hij,bhj->b", xh, self.bilinear, yh).unsqueeze(-1)
        return self.linear_x(x) + self.linear_y(y) + bilinear
