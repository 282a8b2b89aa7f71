"""The served network as one tensor-in, tensor-out module (eager, TorchScript, ONNX)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from elec.models import CTRNetwork


class ServingModule(nn.Module):
    """(single ids, multi ids) -> click probabilities.

    Multi-valued fields arrive side by side in one padded matrix, split here by
    their fixed widths, so exported graphs take exactly two integer tensors.
    """

    def __init__(self, network: CTRNetwork, multi_widths: list[int]):
        super().__init__()
        self.embedding = network.embedding
        self.backbone = network.backbone
        self.multi_widths = multi_widths

    def forward(self, single: Tensor, multi: Tensor) -> Tensor:
        """single: (batch, single fields); multi: (batch, sum of widths) -> (batch,)."""
        logit, _ = self.backbone(self.fields(single, multi))
        return torch.sigmoid(logit)

    def fields(self, single: Tensor, multi: Tensor) -> Tensor:
        """The tabular fields' embeddings, (batch, fields, dim)."""
        parts = list(torch.split(multi, self.multi_widths, dim=1)) if self.multi_widths else []
        return self.embedding(single, parts)


class ItemServingModule(ServingModule):
    """(single ids, multi ids, item vectors) -> click probabilities, for a network whose
    last field is its item's projected LM vector. The vectors come from the bundle's item
    table, looked up outside the graph, so adding items never changes the graph."""

    def forward(self, single: Tensor, multi: Tensor, item: Tensor) -> Tensor:
        """item: (batch, embedding dim) float32, each row's item vector."""
        logit, _ = self.backbone(torch.cat([self.fields(single, multi), item.unsqueeze(1)], 1))
        return torch.sigmoid(logit)
