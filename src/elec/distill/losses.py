"""Distillation losses, score level and representation level.

Both are zero when the student reproduces the teacher exactly.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def score_distillation(student_logit: Tensor, teacher_logit: Tensor,
                       temperature: float = 1.0) -> Tensor:
    """Soft-label BCE between teacher and student probabilities at temperature T, minus
    the teacher's entropy (same gradient, zero at the optimum): the binary KL
    divergence KL(p_t || p_s), scaled by T^2 as usual so gradients keep their size."""
    t = teacher_logit.detach() / temperature
    s = student_logit / temperature
    soft_bce = F.binary_cross_entropy_with_logits(s, t.sigmoid())
    entropy = F.binary_cross_entropy_with_logits(t, t.sigmoid())
    return (soft_bce - entropy) * temperature**2


class RepresentationDistillation(nn.Module):
    """MSE between the student's representation (through a learned linear map when the
    widths differ) and the teacher's."""

    def __init__(self, student_dim: int, teacher_dim: int):
        super().__init__()
        self.align = (nn.Identity() if student_dim == teacher_dim
                      else nn.Linear(student_dim, teacher_dim, bias=False))

    def forward(self, student_repr: Tensor, teacher_repr: Tensor) -> Tensor:
        return F.mse_loss(self.align(student_repr), teacher_repr.detach())
