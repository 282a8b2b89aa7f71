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
    best_epoch: int = 0
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
              tick: Callable[[], None] | None = None) -> tuple[float, int]:
        """One pass over ``train``: the summed loss and the rows trained on, over all ranks
        (under torchrun each takes its share of every step, and DDP averages the
        gradients)."""
        module.train()
        total, seen = 0.0, 0
        device = next(module.parameters()).device.type
        for batch in batches(train, self.cfg.batch_size, generator, distributed.rank(),
                             distributed.world()):
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
        total, seen = distributed.summed(total, seen)
        return total, int(seen)

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
        history, best_state, stale = History(), None, 0
        start = time.perf_counter()
        steps = math.ceil(len(train) / cfg.batch_size)
        with distributed.objective(module, loss_fn) as objective:
            for epoch in range(1, cfg.max_epochs + 1):
                tick = self.progress(f"{name} epoch {epoch}", steps) if self.progress else None
                total, seen = self.epoch(module, objective, train, optimizer, generator, tick)
                if not math.isfinite(total):
                    raise FloatingPointError(f"{name}: training loss is not finite at epoch "
                                             f"{epoch}; lower train.lr")
                metrics = evaluate(valid.label.cpu().numpy(),
                                   sigmoid(predict_logits(predict, module, valid,
                                                          self.eval_batch_size)))
                record = {"epoch": epoch, "train_rows": seen, "train_loss": total / seen,
                          "valid_auc": metrics["auc"], "valid_logloss": metrics["logloss"],
                          "lr": optimizer.param_groups[0]["lr"]}
                history.epochs.append(record)
                self.log(f"{name} epoch {epoch}: train loss {record['train_loss']:.4f} "
                         f"({seen:,} rows)  valid AUC {metrics['auc']:.4f}  logloss "
                         f"{metrics['logloss']:.4f}")
                if metrics["auc"] > history.best_auc:
                    history.best_auc, history.best_epoch = metrics["auc"], epoch
                    best_state, stale = copy.deepcopy(module.state_dict()), 0
                    continue
                stale += 1
                if stale >= cfg.patience:
                    break
                if stale >= cfg.lr_decay_patience:
                    for group in optimizer.param_groups:
                        group["lr"] *= 0.1
        if best_state is not None:
            module.load_state_dict(best_state)
        history.seconds = time.perf_counter() - start
        module.eval()
        return history
