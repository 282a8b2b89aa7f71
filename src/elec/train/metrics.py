"""Evaluation metrics on probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score


def evaluate(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """AUC and logloss; AUC is NaN when only one class is present."""
    labels = np.asarray(labels, dtype=np.float64)
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-7, 1 - 1e-7)
    both = 0 < labels.sum() < len(labels)
    return {"auc": float(roc_auc_score(labels, probabilities)) if both else float("nan"),
            "logloss": float(log_loss(labels, probabilities, labels=[0, 1]))}
