"""Building blocks shared by every backbone."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class FeaturesEmbedding(nn.Module):
    """One embedding table for all fields, with per-field offsets: one lookup per batch.

    Single-valued fields give one vector each; a multi-valued field gives the mean
    of its values' vectors (id 0 is padding and is ignored).
    """

    def __init__(self, single_sizes: Sequence[int], multi_sizes: Sequence[int], dim: int):
        super().__init__()
        sizes = list(single_sizes) + list(multi_sizes)
        offsets = torch.tensor([0, *sizes[:-1]]).cumsum(0) if sizes else torch.zeros(0)
        self.register_buffer("single_offsets", offsets[:len(single_sizes)].long(),
                             persistent=False)
        self.register_buffer("multi_offsets", offsets[len(single_sizes):].long(),
                             persistent=False)
        self.table = nn.Embedding(max(sum(sizes), 1), dim)
        nn.init.normal_(self.table.weight, std=1e-4)
        self.num_fields = len(sizes)

    def forward(self, single: Tensor, multi: Sequence[Tensor]) -> Tensor:
        """single: (batch, single fields); multi: (batch, max_len) each
        -> (batch, fields, dim)."""
        fields = [self.table(single + self.single_offsets)]
        for ids, offset in zip(multi, self.multi_offsets, strict=True):
            mask = (ids > 0).unsqueeze(-1).to(self.table.weight.dtype)
            pooled = (self.table(ids + offset) * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            fields.append(pooled.unsqueeze(1))
        return torch.cat(fields, dim=1)


class MultiLayerPerceptron(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Dropout per hidden layer; optional output unit."""

    def __init__(self, input_dim: int, hidden: Sequence[int], dropout: float = 0.0,
                 batch_norm: bool = True, output_layer: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers.append(nn.Linear(input_dim, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers += [nn.ReLU(), nn.Dropout(dropout)]
            input_dim = width
        if output_layer:
            layers.append(nn.Linear(input_dim, 1))
        self.mlp = nn.Sequential(*layers)
        self.output_dim = 1 if output_layer else input_dim

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, input_dim) -> (batch, output_dim)."""
        return self.mlp(x)


class FieldLinear(nn.Module):
    """First-order term read off the field embeddings: sum_f <w_f, e_f> + b.

    Backbones only see embeddings, so a per-id bias becomes <w_f, e_id>, which
    the shared table can represent for every id.
    """

    def __init__(self, num_fields: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_fields, dim))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, fields, dim) -> (batch, 1)."""
        return (x * self.weight).sum((1, 2)).unsqueeze(-1) + self.bias


class FactorizationMachine(nn.Module):
    """Pairwise interactions sum_{i<j} <e_i, e_j>, kept as a vector before the sum."""

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, fields, dim) -> (batch, dim) interaction vector."""
        return 0.5 * (x.sum(1).pow(2) - x.pow(2).sum(1))


class CrossNetworkV2(nn.Module):
    """DCN-V2 cross layers: x_{l+1} = x_0 * (W_l x_l + b_l) + x_l."""

    def __init__(self, input_dim: int, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(input_dim, input_dim) for _ in range(num_layers))

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, input_dim) -> (batch, input_dim)."""
        x0 = x
        for layer in self.layers:
            x = x0 * layer(x) + x
        return x
