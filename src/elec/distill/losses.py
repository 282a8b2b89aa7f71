"""Distillation losses, score level and representation level.

Both are zero when the student reproduces the teacher exactly.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def score_distillation(student_logit: Tensor, teacher_logit: Tensor,
                       temperature: float = 1.0, reduce: bool = True) -> Tensor:
    """Soft-label BCE between teacher and student probabilities at temperature T, minus
    the teacher's entropy (same gradient, zero at the optimum): the binary KL
    divergence KL(p_t || p_s), scaled by T^2 as usual so gradients keep their size."""
    t = teacher_logit.detach() / temperature
    s = student_logit / temperature
    soft_bce = F.binary_cross_entropy_with_logits(s, t.sigmoid(), reduction="none")
    entropy = F.binary_cross_entropy_with_logits(t, t.sigmoid(), reduction="none")
    per_row = (soft_bce - entropy) * temperature**2
    return per_row.mean() if reduce else per_row


class RepresentationDistillation(nn.Module):
    """MSE between the student's representation (through a learned linear map when the
    widths differ) and the teacher's."""

    def __init__(self, student_dim: int, teacher_dim: int):
        super().__init__()
        self.align = (nn.Identity() if student_dim == teacher_dim
                      else nn.Linear(student_dim, teacher_dim, bias=False))

    def forward(self, student_repr: Tensor, teacher_repr: Tensor, reduce: bool = True
                ) -> Tensor:
        per_row = (self.align(student_repr) - teacher_repr.detach()).pow(2).mean(-1)
        return per_row.mean() if reduce else per_row
