"""Teacher targets: what a student learns from, attached to the rows it trains on.

    score target:  z = m * z_teacher + (1 - m) * z_backbone    (m = distill.teacher_mix)
    repr target:   r_teacher

The teacher reads its own view of the rows (the gain network also reads the LM vector);
the pool's unlabeled rows get targets too, and a 0 in ``LABELED`` so the student's loss
skips their (absent) labels.
"""

from __future__ import annotations

import torch
from torch import nn

from elec.data.batches import Columns, batches
from elec.data.splits import POOL
from elec.distill.networks import LABELED, TEACHER_LOGIT, TEACHER_REPR


@torch.no_grad()
def teacher_targets(teacher: nn.Module, teacher_rows: Columns, rows: Columns,
                    blend_with: nn.Module | None = None, teacher_mix: float = 1.0) -> Columns:
    """``rows`` with the teacher's logit and representation attached. With ``blend_with``
    (a network that reads ``rows``), the logit target is teacher_mix * teacher +
    (1 - teacher_mix) * blend_with."""
    teacher.eval()
    outputs = [teacher(batch) for batch in batches(teacher_rows, 8192)]
    logit = torch.cat([o[0] for o in outputs])
    if blend_with is not None:
        blend_with.eval()
        other = torch.cat([blend_with(batch)[0] for batch in batches(rows, 8192)])
        logit = teacher_mix * logit + (1 - teacher_mix) * other
    return rows.with_extra(**{TEACHER_LOGIT: logit,
                              TEACHER_REPR: torch.cat([o[1] for o in outputs])})


def distillation_rows(teacher: nn.Module, teacher_columns: dict[str, Columns],
                      columns: dict[str, Columns], blend_with: nn.Module | None = None,
                      teacher_mix: float = 1.0) -> Columns:
    """A student's training rows: the labelled training rows and, when there is a pool,
    its unlabeled rows, all with the teacher's targets."""
    def targets(split: str) -> Columns:
        return teacher_targets(teacher, teacher_columns[split], columns[split], blend_with,
                               teacher_mix)

    train = targets("train")
    if POOL not in columns:
        return train
    pool = targets(POOL)
    return Columns.concat([train.with_extra(**{LABELED: torch.ones_like(train.label)}),
                           pool.with_extra(**{LABELED: torch.zeros_like(pool.label)})])
