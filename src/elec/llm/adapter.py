"""Stage 1: adapt pooled LM vectors to CTR.

transformation layer (MLP h -> v) + prediction layer (Linear v -> logit), trained
with binary cross-entropy on frozen, cached LM vectors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from elec.config import AdapterConfig
from elec.data.batches import Columns

LLM_HIDDEN = "llm_hidden"  # Columns.extra key: pooled LM vectors h


class Adapter(nn.Module):
    def __init__(self, input_dim: int, cfg: AdapterConfig):
        super().__init__()
        self.input_dim = input_dim
        layers: list[nn.Module] = []
        width = input_dim
        for hidden in cfg.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = hidden
        layers.append(nn.Linear(width, cfg.dim))
        self.transformation = nn.Sequential(*layers)
        self.prediction = nn.Linear(cfg.dim, 1)

    def forward(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """hidden: (batch, lm dim) -> logit (batch,), v (batch, cfg.dim)."""
        vector = self.transformation(hidden)
        return self.prediction(vector).squeeze(-1), vector

    def loss(self, batch: Columns) -> Tensor:
        return F.binary_cross_entropy_with_logits(self(batch.extra[LLM_HIDDEN])[0], batch.label)

    def logit(self, batch: Columns) -> Tensor:
        return self(batch.extra[LLM_HIDDEN])[0]

    @torch.no_grad()
    def vectors(self, hidden: Tensor, batch_size: int = 8192) -> Tensor:
        self.eval()
        return torch.cat([self(hidden[i:i + batch_size])[1]
                          for i in range(0, hidden.shape[0], batch_size)])
