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
        parts = list(torch.split(multi, self.multi_widths, dim=1)) if self.multi_widths else []
        logit, _ = self.backbone(self.embedding(single, parts))
        return torch.sigmoid(logit)


class ItemServingModule(ServingModule):
    """(single ids, multi ids, item vectors) -> click probabilities, for a network whose
    last field is its item's projected LM vector. The vectors come from the bundle's item
    table, looked up outside the graph, so adding items never changes the graph."""

    def forward(self, single: Tensor, multi: Tensor, item: Tensor) -> Tensor:
        """item: (batch, embedding dim) float32, each row's item vector."""
        parts = list(torch.split(multi, self.multi_widths, dim=1)) if self.multi_widths else []
        fields = torch.cat([self.embedding(single, parts), item.unsqueeze(1)], dim=1)
        logit, _ = self.backbone(fields)
        return torch.sigmoid(logit)
