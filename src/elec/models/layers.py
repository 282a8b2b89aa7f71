"""Building blocks shared by every backbone."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def init_linear(module: nn.Module) -> None:
    """Xavier-normal weights and zero biases for every ``nn.Linear`` in ``module``, as
    FuxiCTR initialises its models (the FuxiCTR comparison in docs/results.md)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_normal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class _TableRows(torch.autograd.Function):
    """``F.embedding`` with the gradient of the table summed by one ``index_add_``: on the
    CPU, torch's own embedding backward has every thread scan every looked-up row, several
    times slower. The same sums in the same order, so the same bits."""

    @staticmethod
    def forward(ctx, weight: Tensor, rows: Tensor) -> Tensor:
        ctx.save_for_backward(rows)
        ctx.table_rows = weight.shape[0]
        return F.embedding(rows, weight)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (rows,) = ctx.saved_tensors
        table = grad.new_zeros(ctx.table_rows, grad.shape[-1])
        return table.index_add_(0, rows.reshape(-1), grad.reshape(-1, grad.shape[-1])), None


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
        self.multi_offsets = [int(o) for o in offsets[len(single_sizes):]]
        self.table = nn.Embedding(max(sum(sizes), 1), dim)
        nn.init.normal_(self.table.weight, std=1e-4)
        self.num_fields = len(sizes)

    def forward(self, single: Tensor, multi: Sequence[Tensor],
                residual: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """single: (batch, single fields); multi: (batch, max_len) each
        -> (batch, fields, dim). ``residual`` (table rows -> vectors) is added to the
        table's vectors, before multi-valued fields are pooled."""
        weight = self.table.weight
        table = self.table
        if self.training and weight.device.type == "cpu" and torch.is_grad_enabled():
            table = functools.partial(_TableRows.apply, weight)
        lookup = table if residual is None else (lambda rows: table(rows) + residual(rows))
        fields = [lookup(single + self.single_offsets)]
        for ids, offset in zip(multi, self.multi_offsets, strict=True):
            mask = (ids > 0).unsqueeze(-1).to(weight.dtype)
            pooled = (lookup(ids + offset) * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            fields.append(pooled.unsqueeze(1))
        return torch.cat(fields, dim=1)


class Dropout(nn.Module):
    """``nn.Dropout``, with its mask drawn on the CPU from 16-bit random numbers, four per
    64-bit draw: torch's own CPU dropout draws one Bernoulli sample per value, which takes
    longer than the layer's matmul. A value is kept with probability 1 - p rounded to
    1/65,536. On GPUs, ``F.dropout``."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.threshold = round(p * 65536) - 32768  # int16 values below it are dropped

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        n = x.numel()
        bits = torch.randint(-2**63, 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64)
        keep = bits.view(torch.int16)[:n].view_as(x) >= self.threshold
        return x * (keep * (1 / (1 - self.p))).to(x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


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
            layers += [nn.ReLU(), Dropout(dropout)]
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
        self.weight = nn.Parameter(torch.empty(num_fields, dim))
        self.bias = nn.Parameter(torch.zeros(1))
        nn.init.normal_(self.weight, std=0.01)

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


def pair_indices(num_fields: int) -> tuple[list[int], list[int]]:
    """Index lists (i, j) of every field pair with i < j."""
    rows, cols = [], []
    for i in range(num_fields):
        for j in range(i + 1, num_fields):
            rows.append(i)
            cols.append(j)
    return rows, cols


class FieldPairs(nn.Module):
    """Base of the layers that look at every field pair (i < j)."""

    def __init__(self, num_fields: int):
        super().__init__()
        rows, cols = pair_indices(num_fields)
        self.register_buffer("rows", torch.tensor(rows, dtype=torch.long), persistent=False)
        self.register_buffer("cols", torch.tensor(cols, dtype=torch.long), persistent=False)
        self.num_pairs = len(rows)

    def pairs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, fields, dim) -> left and right members, each (batch, pairs, dim)."""
        return x[:, self.rows], x[:, self.cols]


class InnerProduct(FieldPairs):
    """<e_i, e_j> for every field pair (the product layer of IPNN)."""

    def __init__(self, num_fields: int):
        super().__init__(num_fields)
        self.output_dim = self.num_pairs

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, fields, dim) -> (batch, fields * (fields - 1) / 2)."""
        left, right = self.pairs(x)
        return (left * right).sum(-1)


class FieldWeightedInteraction(FieldPairs):
    """FwFM: sum_{i<j} r_ij (e_i * e_j), kept as a vector before the sum."""

    def __init__(self, num_fields: int):
        super().__init__(num_fields)
        self.pair_weight = nn.Parameter(torch.ones(self.num_pairs))

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, fields, dim) -> (batch, dim)."""
        left, right = self.pairs(x)
        return (left * right * self.pair_weight[:, None]).sum(1)


class CrossNetwork(nn.Module):
    """DCN cross layers: x_{l+1} = x_0 (x_l . w_l) + b_l + x_l."""

    def __init__(self, input_dim: int, num_layers: int):
        super().__init__()
        self.weights = nn.ModuleList(nn.Linear(input_dim, 1, bias=False)
                                     for _ in range(num_layers))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(input_dim))
                                       for _ in range(num_layers))

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, input_dim) -> (batch, input_dim)."""
        x0 = x
        for weight, bias in zip(self.weights, self.biases, strict=True):
            x = x0 * weight(x) + bias + x
        return x


class CompressedInteractionNetwork(nn.Module):
    """xDeepFM's CIN: explicit vector-wise interactions, sum-pooled per layer."""

    def __init__(self, num_fields: int, layer_sizes: Sequence[int], split_half: bool = True):
        super().__init__()
        self.convs = nn.ModuleList()
        self.split_half = split_half
        previous, output_dim = num_fields, 0
        for k, size in enumerate(layer_sizes):
            self.convs.append(nn.Conv1d(num_fields * previous, size, kernel_size=1))
            last = k == len(layer_sizes) - 1
            keep = size // 2 if split_half and not last else size
            previous, output_dim = keep, output_dim + keep
        self.output_dim = output_dim

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, fields, dim) -> (batch, output_dim)."""
        batch, _, dim = x.shape
        hidden, pooled = x, []
        for k, conv in enumerate(self.convs):
            outer = (x.unsqueeze(2) * hidden.unsqueeze(1)).reshape(batch, -1, dim)
            hidden = torch.relu(conv(outer))
            if self.split_half and k < len(self.convs) - 1:
                hidden, kept = torch.split(hidden, hidden.shape[1] // 2, dim=1)
            else:
                kept = hidden
            pooled.append(kept.sum(-1))
        return torch.cat(pooled, dim=1)


class MultiHeadSelfAttention(nn.Module):
    """AutoInt's interacting layer: self-attention across fields with a residual link."""

    def __init__(self, input_dim: int, attention_dim: int, heads: int, residual: bool = True):
        super().__init__()
        if attention_dim % heads:
            raise ValueError(f"attention_dim {attention_dim} is not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(input_dim, 3 * attention_dim, bias=False)
        self.residual = nn.Linear(input_dim, attention_dim, bias=False) if residual else None
        self.output_dim = attention_dim

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, fields, input_dim) -> (batch, fields, attention_dim)."""
        batch, fields, _ = x.shape
        q, k, v = self.qkv(x).view(batch, fields, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attended = nn.functional.scaled_dot_product_attention(q, k, v)
        out = attended.transpose(1, 2).reshape(batch, fields, self.output_dim)
        if self.residual is not None:
            out = out + self.residual(x)
        return torch.relu(out)
