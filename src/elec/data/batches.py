"""Column batches: the only form in which rows reach a model.

A ``Columns`` holds whole columns as tensors; a batch is the same type sliced by
an index tensor, so there is no row-by-row collation anywhere.
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
        return Columns(single=self.single.to(device), multi=[m.to(device) for m in self.multi],
                       label=self.label.to(device),
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
        order). With ``world`` > 1, rank ``rank``'s share of every batch of
        ``batch_size * world`` rows (the ranks take the same number of steps)."""
        n = len(self)
        order = (torch.randperm(n, generator=generator) if generator is not None
                 else torch.arange(n))
        order = order.to(self.label.device)
        if world > 1:
            order = order[:n // world * world].view(-1, world)[:, rank]
        for start in range(0, len(order), batch_size):
            yield self.take(order[start:start + batch_size])


class Rows(Protocol):
    """A split as the trainer reads it: ``Columns`` in memory, or shards on disk
    (``elec.data.shards.ShardedColumns``)."""

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
