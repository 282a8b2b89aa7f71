"""One training loop for every network: Adam, early stopping on validation AUC,
LR x0.1 on plateau, best-weights reload, gradient clipping, seeded batch order."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor, nn

from elec.config import RunConfig, TrainConfig
from elec.data.batches import Columns, Rows, batches
from elec.data.encoder import MISSING, OOV
from elec.data.schema import FeatureSchema
from elec.train import distributed
from elec.train.metrics import evaluate

LossFn = Callable[[Columns], Tensor]
PredictFn = Callable[[Columns], Tensor]
Augment = Callable[[Columns], Columns]


def item_dropout(cfg: RunConfig, schema: FeatureSchema) -> Augment | None:
    """``train.item_dropout`` on the item column; None at rate 0 (nothing is drawn). A
    fresh one for every network: each draws the same rows."""
    if not cfg.train.item_dropout:
        return None
    column = schema.single_column(cfg.data.item_column)
    return id_dropout(column, cfg.train.item_dropout, cfg.seed)


def id_dropout(column: int, rate: float, seed: int) -> Augment:
    """Training batches with the ids of single-valued field ``column`` read as an unseen
    value's (the out-of-vocabulary id) in a fraction ``rate`` of the rows, drawn anew for
    every batch from a generator of its own (the batch order does not change). Missing
    values stay missing."""
    generator = torch.Generator().manual_seed(seed + distributed.rank())

    def augment(batch: Columns) -> Columns:
        drop = torch.rand(len(batch), generator=generator).to(batch.single.device) < rate
        single = batch.single.clone()
        ids = single[:, column]
        single[:, column] = torch.where(drop & (ids != MISSING), OOV, ids)
        return replace(batch, single=single)

    return augment


@dataclass
class History:
    epochs: list[dict] = field(default_factory=list)
    best_epoch: float = 0  # with several checks an epoch, a fraction of epochs
    best_auc: float = -math.inf
    seconds: float = 0.0


@torch.no_grad()
def predict_logits(predict: PredictFn, module: nn.Module, columns: Rows,
                   batch_size: int = 8192) -> np.ndarray:
    """``predict`` over every row, in order. Under torchrun each rank predicts its share
    (whole shards, or a slice of rows in memory) and every rank returns all of them."""
    module.eval()
    if distributed.world() == 1:
        return _logits(predict, columns, batch_size)
    return distributed.gathered({i: _logits(predict, share, batch_size)
                                 for i, share in distributed.share(columns)})


def _logits(predict: PredictFn, columns: Rows, batch_size: int) -> np.ndarray:
    """Each batch's logits are copied into one array as they come: keeping thousands of
    small tensors alive between the batches' large temporaries fragments the heap (at 1M
    rows, a gigabyte of resident memory)."""
    out, start = np.empty(len(columns), dtype=np.float32), 0
    for batch in batches(columns, batch_size):
        logits = predict(batch).float().cpu().numpy()
        out[start:start + len(logits)] = logits
        start += len(logits)
    return out


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


class Trainer:
    def __init__(self, cfg: TrainConfig, log: Callable[[str], None] = print,
                 progress: Callable[[str, int], Callable[[], None]] | None = None,
                 eval_batch_size: int = 8192, augment: Augment | None = None):
        self.cfg = cfg
        self.log = log
        self.progress = progress
        self.eval_batch_size = eval_batch_size
        self.augment = augment  # applied to every training batch (not to evaluation)

    def epoch(self, module: nn.Module, loss_fn: LossFn, train: Rows,
              optimizer: torch.optim.Optimizer, generator: torch.Generator | None,
              tick: Callable[[], None] | None = None,
              check: Callable[[int, float, int], bool] | None = None,
              checked: dict[int, int] | None = None) -> tuple[float, int, bool]:
        """One pass over ``train``: the summed loss and the rows trained on, over all ranks
        (under torchrun each takes its share of every step, and DDP averages the
        gradients), and whether a validation ``check``, after each step ``checked`` maps to
        its place in the epoch (given that place, the loss and the rows so far), stopped
        the training."""
        module.train()
        total, seen = 0.0, 0
        device = next(module.parameters()).device.type
        for step, batch in enumerate(batches(train, self.cfg.batch_size, generator,
                                             distributed.rank(), distributed.world()), 1):
            if self.augment:
                batch = self.augment(batch)
            with torch.autocast(device, torch.bfloat16, enabled=self.cfg.precision == "bf16"):
                loss = loss_fn(batch)
            optimizer.zero_grad(set_to_none=True)
            distributed.step_loss(loss, len(batch), batch.step_rows or len(batch)).backward()
            if self.cfg.grad_clip:
                nn.utils.clip_grad_norm_(module.parameters(), self.cfg.grad_clip)
            optimizer.step()
            if len(batch):
                total += loss.item() * len(batch)
                seen += len(batch)
            if tick:
                tick()
            if checked and step in checked:
                so_far, rows = distributed.summed(total, seen)
                if check(checked[step], so_far, int(rows)):
                    return so_far, int(rows), True
                module.train()
        total, seen = distributed.summed(total, seen)
        return total, int(seen), False

    def fit(self, name: str, module: nn.Module, loss_fn: LossFn, predict: PredictFn,
            train: Rows, valid: Rows, generator: torch.Generator,
            param_groups: Iterable[dict] | None = None) -> History:
        """Train ``module`` in place; on return it holds the best validation weights."""
        cfg = self.cfg
        groups = list(param_groups) if param_groups is not None else [
            {"params": [p for p in module.parameters() if p.requires_grad]}]
        # fused: one kernel per step instead of one per tensor per operation; the same
        # update
        optimizer = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                     fused=True)
        history, start = History(), time.perf_counter()
        steps = math.ceil(len(train) / cfg.batch_size)
        checks = min(cfg.checks_per_epoch, steps)
        # the steps after which validation is checked within an epoch, and which check each
        # is (the last, at the epoch's end: below)
        checked = {round(k * steps / checks): k for k in range(1, checks)}
        best_state, stale = None, 0

        def check(epoch: int, part: int, total: float, seen: int) -> bool:
            """Validation now (``part`` of ``checks`` of ``epoch``): recorded, the best
            weights kept; whether patience has run out."""
            nonlocal best_state, stale
            if not math.isfinite(total):
                raise FloatingPointError(f"{name}: training loss is not finite at epoch "
                                         f"{epoch}; lower train.lr")
            metrics = evaluate(valid.label.cpu().numpy(),
                               sigmoid(predict_logits(predict, module, valid,
                                                      self.eval_batch_size)))
            at = epoch if checks == 1 else round(epoch - 1 + part / checks, 3)
            record = {"epoch": at, "train_rows": int(seen), "train_loss": total / seen,
                      "valid_auc": metrics["auc"], "valid_logloss": metrics["logloss"],
                      "lr": optimizer.param_groups[0]["lr"]}
            history.epochs.append(record)
            where = f"epoch {epoch}" + (f" ({part}/{checks})" if checks > 1 else "")
            self.log(f"{name} {where}: train loss {record['train_loss']:.4f} "
                     f"({int(seen):,} rows)  valid AUC {metrics['auc']:.4f}  logloss "
                     f"{metrics['logloss']:.4f}")
            if metrics["auc"] > history.best_auc:
                history.best_auc, history.best_epoch = metrics["auc"], at
                best_state, stale = copy.deepcopy(module.state_dict()), 0
                return False
            stale += 1
            if stale >= cfg.patience:
                return True
            if stale >= cfg.lr_decay_patience:
                for group in optimizer.param_groups:
                    group["lr"] *= 0.1
            return False

        with distributed.objective(module, loss_fn) as objective:
            for epoch in range(1, cfg.max_epochs + 1):
                tick = self.progress(f"{name} epoch {epoch}", steps) if self.progress else None
                total, seen, stopped = self.epoch(
                    module, objective, train, optimizer, generator, tick,
                    lambda part, total, seen, e=epoch: check(e, part, total, seen), checked)
                if stopped or check(epoch, checks, total, seen):
                    break
        if best_state is not None:
            module.load_state_dict(best_state)
        history.seconds = time.perf_counter() - start
        module.eval()
        return history
