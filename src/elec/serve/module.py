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
