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
    """(single ids, multi ids, item rows) -> click probabilities, for a network whose last
    field is its item's projected LM vector, looked up here by row of the item table. The
    row past the end, for an item the table lacks, is zeros: what the network read in
    training for the rows whose LM field was dropped (gain.field_dropout)."""

    def __init__(self, network: CTRNetwork, multi_widths: list[int], vectors: Tensor):
        super().__init__(network, multi_widths)
        self.register_buffer("items", torch.cat([vectors, vectors.new_zeros(1, vectors.shape[1])]))

    def forward(self, single: Tensor, multi: Tensor, item: Tensor) -> Tensor:
        """item: (batch,) rows of the item table; len(table) for an unknown item."""
        parts = list(torch.split(multi, self.multi_widths, dim=1)) if self.multi_widths else []
        fields = torch.cat([self.embedding(single, parts), self.items[item].unsqueeze(1)], 1)
        logit, _ = self.backbone(fields)
        return torch.sigmoid(logit)
