"""Column batches: the only form in which rows reach a model.

A ``Columns`` holds whole columns as tensors; a batch is the same type sliced by
an index tensor, so there is no row-by-row collation anywhere.

An epoch is one sequence of steps, whatever the number of processes: the rows in the
epoch's order, cut into batches of ``batch_size`` (the last one partial). Under torchrun
rank r takes its contiguous share of every step's rows (``share``), so every row is
trained on once per epoch and the ranks together take the steps one process takes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from elec.data.encoder import EncodedFeatures


@dataclass
class Columns:
    single: Tensor  # int64 [rows, single-valued fields]
    multi: list[Tensor]  # int64 [rows, max_len] per multi-valued field
    label: Tensor  # float32 [rows]
    extra: dict[str, Tensor] = field(default_factory=dict)  # LM vectors, teacher outputs
    step_rows: int | None = None  # a share of a step: the step's rows over all ranks

    @classmethod
    def from_encoded(cls, features: EncodedFeatures, label: np.ndarray) -> Columns:
        return cls(single=torch.from_numpy(features.single),
                   multi=[torch.from_numpy(m) for m in features.multi],
                   label=torch.from_numpy(np.asarray(label, dtype=np.float32)))

    def __len__(self) -> int:
        return self.label.shape[0]

    def take(self, index: Tensor) -> Columns:
        return Columns(single=self.single[index], multi=[m[index] for m in self.multi],
                       label=self.label[index],
                       extra={k: v[index] for k, v in self.extra.items()})

    @classmethod
    def concat(cls, parts: list[Columns]) -> Columns:
        """Rows of ``parts`` one after the other; they must have the same extra columns."""
        keys = set(parts[0].extra)
        if any(set(p.extra) != keys for p in parts):
            raise ValueError("cannot concatenate columns with different extra columns")
        return cls(single=torch.cat([p.single for p in parts]),
                   multi=[torch.cat(m) for m in zip(*(p.multi for p in parts), strict=True)],
                   label=torch.cat([p.label for p in parts]),
                   extra={k: torch.cat([p.extra[k] for p in parts]) for k in keys})

    def to(self, device: torch.device | str) -> Columns:
        return replace(self, single=self.single.to(device),
                       multi=[m.to(device) for m in self.multi], label=self.label.to(device),
                       extra={k: v.to(device) for k, v in self.extra.items()})

    def with_extra(self, **tensors: Tensor) -> Columns:
        for name, tensor in tensors.items():
            if tensor.shape[0] != len(self):
                raise ValueError(f"extra column {name!r} has {tensor.shape[0]} rows, "
                                 f"expected {len(self)}")
        return replace(self, extra={**self.extra, **tensors})


    def batches(self, batch_size: int, generator: torch.Generator | None = None,
                rank: int = 0, world: int = 1) -> Iterator[Columns]:
        """Consecutive batches; shuffled when a generator is given (its state sets the
        order). With ``world`` > 1, rank ``rank``'s share of each of them."""
        order = (torch.randperm(len(self), generator=generator) if generator is not None
                 else torch.arange(len(self))).to(self.label.device)
        for begin in range(0, len(order), batch_size):
            end = min(begin + batch_size, len(order))
            yield self.take(order[slice(*share(begin, end, rank, world))]).of_step(end - begin)

    def of_step(self, rows: int) -> Columns:
        """These rows as a share of a step of ``rows`` rows over all ranks."""
        return replace(self, step_rows=rows)


def share(begin: int, end: int, rank: int, world: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous part of positions ``begin:end``: the ranks' parts differ
    by at most one row, and a rank's part is empty when there are fewer rows than ranks."""
    rows = end - begin
    return begin + rows * rank // world, begin + rows * (rank + 1) // world


class Rows(Protocol):
    """A split as the trainer reads it: ``Columns`` in memory, or shards on disk
    (``elec.data.sharded.ShardedColumns``)."""

    def __len__(self) -> int: ...

    @property
    def label(self) -> Tensor: ...

    def batches(self, batch_size: int, generator: torch.Generator | None = None,
                rank: int = 0, world: int = 1) -> Iterator[Columns]: ...


def batches(rows: Rows, batch_size: int, generator: torch.Generator | None = None,
            rank: int = 0, world: int = 1) -> Iterator[Columns]:
    """The batches of ``rows``; shuffled when a generator is given; rank ``rank``'s share
    of them with ``world`` > 1."""
    return rows.batches(batch_size, generator, rank, world)
