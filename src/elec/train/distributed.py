"""Training under torchrun: PyTorch's own DistributedDataParallel, nothing home-made.

    torchrun --nproc-per-node 2 -m elec.cli run -c elec.yaml        (or: elec run --nproc 2)

N processes train the model one process trains. Every rank draws the same epoch of steps
(``train.batch_size`` rows each, in one process's order) and takes its share of each
step's rows (``elec.data.batches.share``); its loss is weighted by its share, so DDP's
average of the ranks' gradients is the gradient of the step's mean loss, even where the
shares differ (the last, partial step). Batch normalisation takes its statistics over the
step's rows on every rank (``SharedBatchNorm``), so the running statistics are the same
everywhere. The weights stay the same on every rank; the main rank alone writes files.
gloo on CPU, nccl on GPUs; multi-node is torchrun's own rendezvous. Predictions
(validation, test, metrics) are split across the ranks and gathered, so every rank sees
every row's score.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def relaunch(nproc: int, args: list[str]) -> int:
    """Run ``elec <args>`` once per process under torchrun, on this machine; its exit
    status."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "torch.distributed.run",
                           f"--nproc-per-node={nproc}", "-m", "elec.cli", *args],
                          check=False).returncode


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


class _Summed(torch.autograd.Function):
    """A tensor summed over the ranks; its gradient is the ranks' gradients summed (every
    rank's loss depends on every rank's part of the sum)."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:  # noqa: ARG004 (torch's signature)
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: ARG004
        return _Summed.apply(grad)


class SharedBatchNorm(nn.BatchNorm1d):
    """Batch normalisation over the rows of every rank's share of a step: the mean and
    variance are summed across the ranks (an all-reduce that carries gradients back), so
    a rank normalises as one process normalises the whole step, and every rank keeps the
    same running statistics. Torch's SyncBatchNorm does this on GPUs only."""

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, features) -> (batch, features)."""
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        x32 = x.float()
        sums = _Summed.apply(torch.cat([x32.new_full((1,), len(x)), x32.sum(0)]))
        rows, mean = sums[0], sums[1:] / sums[0]
        centred = x32 - mean
        variance = _Summed.apply(centred.pow(2).sum(0)) / rows
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                weight = (self.momentum if self.momentum is not None  # None: the mean so far
                          else 1.0 / float(self.num_batches_tracked))
                self.running_mean.lerp_(mean, weight)
                self.running_var.lerp_(variance * rows / (rows - 1).clamp(min=1), weight)
        out = centred * torch.rsqrt(variance + self.eps)
        if self.affine:
            out = out * self.weight + self.bias
        return out.to(x.dtype)


class Objective(nn.Module):
    """A network's training loss as a module's forward, so DDP can wrap it."""

    def __init__(self, module: nn.Module, loss_fn: Callable[..., Tensor]):
        super().__init__()
        self.module, self.loss_fn = module, loss_fn

    def forward(self, batch) -> Tensor:
        return self.loss_fn(batch)


@contextmanager
def objective(module: nn.Module, loss_fn: Callable[..., Tensor]
              ) -> Iterator[Callable[..., Tensor]]:
    """``loss_fn`` itself in one process; under torchrun, through DDP, with the module's
    batch norms shared across the ranks while the block runs. Every rank then draws its
    own dropout masks (its global generator is offset by its rank), as the rows of one
    process's batch would; the weights start equal (DDP copies rank 0's)."""
    if not dist.is_initialized():
        yield loss_fn
        return
    torch.manual_seed(torch.initial_seed() + rank())
    norms = [m for m in module.modules() if type(m) is nn.BatchNorm1d]
    for norm in norms:  # the same parameters and buffers, the optimizer's among them
        norm.__class__ = SharedBatchNorm
    device = next(module.parameters()).device
    try:
        yield nn.parallel.DistributedDataParallel(
            Objective(module, loss_fn),
            device_ids=[device.index] if device.type == "cuda" else None)
    finally:
        for norm in norms:
            norm.__class__ = nn.BatchNorm1d


def step_loss(loss: Tensor, rows: int, step_rows: int) -> Tensor:
    """The loss a rank backpropagates for its ``rows`` of a step of ``step_rows`` (``loss``
    the mean over its rows): weighted so that DDP's average over the ranks is the mean over
    the step's rows (exactly for a mean over all rows; for the student's mean over the
    labelled rows of a step with unlabeled pool rows, the average of the ranks' means). A
    rank with no rows in the step (fewer rows than ranks) still takes part, with a loss
    of 0 that gives zero gradients."""
    if world() == 1:
        return loss
    if rows == 0:
        return loss.nan_to_num() * 0.0
    return loss * (rows * world() / step_rows)


def summed(*values: float) -> list[float]:
    """Each value summed over the ranks (the values themselves in one process)."""
    if not dist.is_initialized():
        return list(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # nccl reduces GPU tensors
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


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
