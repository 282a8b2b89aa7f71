"""Training under torchrun: PyTorch's own DistributedDataParallel, nothing home-made.

    torchrun --nproc-per-node 2 -m elec.cli run -c elec.yaml        (or: elec run --nproc 2)

Every rank trains on its share of each batch (``train.batch_size`` is the global batch:
each rank takes ``batch_size / world`` rows of it), DDP averages the gradients, so the
weights stay the same on every rank; the main rank alone writes files. gloo on CPU,
nccl on GPUs; multi-node is torchrun's own rendezvous. Batch normalisation uses the
global batch on GPUs (SyncBatchNorm); on CPU, where torch has no SyncBatchNorm, each
rank normalises over its own share. Predictions (validation, test, metrics) are split
across the ranks and gathered, so every rank sees every row's score.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn


def start(device: torch.device) -> None:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); else nothing."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def rank() -> int:
    """This process's rank (torchrun's ``RANK`` before the group is joined)."""
    return dist.get_rank() if dist.is_initialized() else int(os.environ.get("RANK", "0"))


def world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def local_device(device: torch.device) -> torch.device:
    """Each rank's own GPU (``LOCAL_RANK``); the CPU is shared."""
    if device.type == "cuda" and dist.is_initialized():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


class Objective(nn.Module):
    """A network's training loss as a module's forward, so DDP can wrap it."""

    def __init__(self, module: nn.Module, loss_fn: Callable[..., Tensor]):
        super().__init__()
        self.module, self.loss_fn = module, loss_fn

    def forward(self, batch) -> Tensor:
        return self.loss_fn(batch)


def objective(module: nn.Module, loss_fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``loss_fn`` itself in one process; under torchrun, through DDP. Every rank then
    draws its own dropout masks (its global generator is offset by its rank), as the rows
    of one process's batch would; the weights start equal (DDP copies rank 0's)."""
    if not dist.is_initialized():
        return loss_fn
    torch.manual_seed(torch.initial_seed() + rank())
    device = next(module.parameters()).device
    if device.type == "cuda":  # batch statistics over the global batch (GPU only in torch)
        nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return nn.parallel.DistributedDataParallel(
        Objective(module, loss_fn), device_ids=[device.index] if device.type == "cuda" else None)


def share(rows) -> Iterator[tuple[int, Any]]:
    """This rank's share of ``rows`` for prediction, as (position, rows) pieces: every
    world-th shard of rows on disk (``shards``), a contiguous slice of rows in memory."""
    if hasattr(rows, "shards"):
        yield from rows.shards(rank(), world())
        return
    n = len(rows)
    begin, end = n * rank() // world(), n * (rank() + 1) // world()
    yield begin, rows.take(torch.arange(begin, end, device=rows.label.device))


def gathered(pieces: dict[int, np.ndarray]) -> np.ndarray:
    """Every rank's pieces (position -> array), joined in position order on every rank."""
    everyone: list[dict[int, np.ndarray]] = [{} for _ in range(world())]
    dist.all_gather_object(everyone, pieces)
    merged = {k: v for part in everyone for k, v in part.items()}
    return np.concatenate([merged[k] for k in sorted(merged)])
