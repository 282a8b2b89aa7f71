"""Fitting one network and recording what it scored: the step every stage ends with."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from elec.data.batches import Columns
from elec.data.splits import EVALUATED
from elec.train.metrics import evaluate
from elec.train.trainer import Trainer, predict_logits, sigmoid


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def evaluate_splits(logit: Callable[[Columns], Tensor], module: nn.Module,
                    columns: dict[str, Columns], groups: dict[str, np.ndarray | None],
                    splits: tuple[str, ...] = EVALUATED) -> dict:
    """AUC, logloss and gAUC of ``module`` on ``splits`` (the valid and test splits)."""
    return {split: evaluate(columns[split].label.cpu().numpy(),
                            sigmoid(predict_logits(logit, module, columns[split])),
                            groups[split])
            for split in splits}


def fit_network(name: str, module: nn.Module, columns: dict[str, Columns],
                groups: dict[str, np.ndarray | None], trainer: Trainer,
                generator: torch.Generator, param_groups: list[dict] | None = None,
                served: nn.Module | None = None) -> dict:
    """Train ``module`` (its ``loss`` on train, early stopping on valid) and return its
    record; ``served`` is the part of it that would be served, for the parameter count."""
    history = trainer.fit(name, module, module.loss, module.logit, columns["train"],
                          columns["valid"], generator, param_groups)
    return {**evaluate_splits(module.logit, module, columns, groups),
            "parameters": parameter_count(served or module),
            "best_epoch": history.best_epoch, "train_seconds": round(history.seconds, 2),
            "history": history.epochs}
