"""Evaluation metrics on probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score


def group_auc(labels: np.ndarray, probabilities: np.ndarray, groups: np.ndarray) -> float:
    """gAUC: per-group (per-user) AUC weighted by the group's impressions, over the groups
    that have both a click and a non-click; NaN when no group has both."""
    order = np.argsort(groups, kind="stable")
    groups, labels, probabilities = groups[order], labels[order], probabilities[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    ends = np.r_[starts[1:], len(groups)]
    total, weight = 0.0, 0
    for start, end in zip(starts, ends, strict=True):
        positives = labels[start:end].sum()
        if 0 < positives < end - start:
            total += roc_auc_score(labels[start:end], probabilities[start:end]) * (end - start)
            weight += end - start
    return total / weight if weight else float("nan")


def evaluate(labels: np.ndarray, probabilities: np.ndarray,
             groups: np.ndarray | None = None) -> dict[str, float]:
    """AUC, logloss and, given groups, gAUC; AUC is NaN when only one class is present."""
    labels = np.asarray(labels, dtype=np.float64)
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-7, 1 - 1e-7)
    both = 0 < labels.sum() < len(labels)
    out = {"auc": float(roc_auc_score(labels, probabilities)) if both else float("nan"),
           "logloss": float(log_loss(labels, probabilities, labels=[0, 1]))}
    if groups is not None:
        out["gauc"] = float(group_auc(labels, probabilities, np.asarray(groups)))
    return out
