import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from elec.train.metrics import evaluate, group_auc


def test_gauc_weights_users_by_impressions_and_skips_one_class_users():
    labels = np.array([1, 0, 1, 0, 0, 1, 1, 1])
    scores = np.array([0.9, 0.1, 0.2, 0.8, 0.3, 0.6, 0.5, 0.4])
    users = np.array(["a", "a", "b", "b", "b", "b", "c", "c"])  # c has only clicks
    auc_a = roc_auc_score(labels[:2], scores[:2])
    auc_b = roc_auc_score(labels[2:6], scores[2:6])
    assert group_auc(labels, scores, users) == pytest.approx((2 * auc_a + 4 * auc_b) / 6)


def test_evaluate_reports_auc_logloss_and_gauc():
    labels = np.array([0, 1, 0, 1])
    metrics = evaluate(labels, np.array([0.2, 0.8, 0.3, 0.9]), np.array([1, 1, 2, 2]))
    assert metrics["auc"] == 1.0 and metrics["gauc"] == 1.0
    assert metrics["logloss"] == pytest.approx(-np.mean(np.log([0.8, 0.8, 0.7, 0.9])))
    assert np.isnan(evaluate(np.ones(3), np.full(3, 0.5))["auc"])
