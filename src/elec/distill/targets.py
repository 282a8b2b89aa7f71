"""Teacher targets: what a student learns from, attached to the rows it trains on.

    score target:  z = m * z_teacher + (1 - m) * z_backbone    (m = distill.teacher_mix)
    repr target:   r_teacher

The teacher reads its own view of the rows (the gain network also reads the LM vector);
the pool's unlabeled rows get targets too, and a 0 in ``LABELED`` so the student's loss
skips their (absent) labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from elec.data.batches import Columns, Rows, batches
from elec.data.sharded import ShardedColumns, part_file, save_array
from elec.data.splits import POOL, TAIL
from elec.distill.networks import LABELED, TEACHER_LOGIT, TEACHER_REPR
from elec.train import distributed


def _outputs(network: nn.Module, rows: Columns, representation: bool = True
             ) -> tuple[Tensor, Tensor | None]:
    """``network``'s logit (and representation) of every row, batch by batch, copied into
    tensors as they come (no list of per-batch tensors: see ``predict_logits``)."""
    network.eval()
    logit = kept = None
    start = 0
    for batch in batches(rows, 8192):
        z, r = network(batch)
        if logit is None:
            logit = torch.empty(len(rows), dtype=z.dtype, device=z.device)
            kept = (torch.empty(len(rows), r.shape[1], dtype=r.dtype, device=r.device)
                    if representation else None)
        logit[start:start + len(z)] = z
        if kept is not None:
            kept[start:start + len(z)] = r
        start += len(z)
    return logit, kept


@torch.no_grad()
def _targets(teacher: nn.Module, teacher_rows: Columns, rows: Columns,
             blend_with: nn.Module | None, teacher_mix: float) -> tuple[Tensor, Tensor]:
    logit, representation = _outputs(teacher, teacher_rows)
    if blend_with is not None:
        other, _ = _outputs(blend_with, rows, representation=False)
        logit = teacher_mix * logit + (1 - teacher_mix) * other
    return logit, representation


def teacher_targets(teacher: nn.Module, teacher_rows: Rows, rows: Rows,
                    blend_with: nn.Module | None = None, teacher_mix: float = 1.0,
                    store: Path | None = None) -> Rows:
    """``rows`` with the teacher's logit and representation attached. With ``blend_with``
    (a network that reads ``rows``), the logit target is teacher_mix * teacher +
    (1 - teacher_mix) * blend_with. Rows on shards get their targets written shard by
    shard under ``store`` (the representation as float16), which they are read from."""
    if not isinstance(rows, ShardedColumns):
        logit, representation = _targets(teacher, teacher_rows, rows, blend_with, teacher_mix)
        return rows.with_extra(**{TEACHER_LOGIT: logit, TEACHER_REPR: representation})
    if store is None:
        raise ValueError("teacher targets of rows on shards need a store directory")
    # under torchrun every rank writes its share of the shards, then waits for the others
    for (i, view), (_, own) in zip(teacher_rows.shards(distributed.rank(), distributed.world()),
                                   rows.shards(distributed.rank(), distributed.world()),
                                   strict=True):
        logit, representation = _targets(teacher, view, own, blend_with, teacher_mix)
        save_array(part_file(store / TEACHER_LOGIT, i), logit.cpu().numpy())
        save_array(part_file(store / TEACHER_REPR, i),
                   representation.cpu().numpy().astype(np.float16))
    distributed.barrier()
    return rows.with_extra(**{name: store / name for name in (TEACHER_LOGIT, TEACHER_REPR)})


def distillation_rows(teacher: nn.Module, teacher_columns: dict[str, Rows],
                      columns: dict[str, Rows], blend_with: nn.Module | None = None,
                      teacher_mix: float = 1.0, store: Path | None = None) -> Rows:
    """A student's training rows: the labelled training rows and the unlabeled ones (the
    pool's, the tail's synthetic rows) where ``columns`` has them, all with the teacher's
    targets (under ``store`` for shards)."""
    def targets(split: str) -> Rows:
        return teacher_targets(teacher, teacher_columns[split], columns[split], blend_with,
                               teacher_mix, None if store is None else store / split)

    train = targets("train")
    unlabeled = [targets(split) for split in (POOL, TAIL) if split in columns]
    if not unlabeled:
        return train
    return Columns.concat([train.with_extra(**{LABELED: torch.ones_like(train.label)}),
                           *(rows.with_extra(**{LABELED: torch.zeros_like(rows.label)})
                             for rows in unlabeled)])
