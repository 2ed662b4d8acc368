"""Metrics of the job contract: known values, agreement with SciPy, null when undefined."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dmsweep.train.metrics import ndcg_at_k, regression_metrics, top_k_overlap

RANKING_KEYS = {"top20_overlap", "top100_overlap", "ndcg100"}
BASE_KEYS = {"mse", "pearson", "spearman", "r2", "n"}


def test_perfect_predictions() -> None:
    true = np.linspace(1.0, 4.0, 300)
    m = regression_metrics(true, true.copy(), ranking=True)
    assert set(m) == BASE_KEYS | RANKING_KEYS
    assert m["mse"] == 0.0 and m["n"] == 300
    assert m["pearson"] == pytest.approx(1.0) and m["spearman"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1.0)
    assert m["top20_overlap"] == 1.0 and m["top100_overlap"] == 1.0
    assert m["ndcg100"] == pytest.approx(1.0)


def test_train_split_has_no_ranking_metrics() -> None:
    assert set(regression_metrics([1, 2, 3], [1, 2, 4])) == BASE_KEYS


def test_agrees_with_scipy_on_noisy_predictions() -> None:
    rng = np.random.default_rng(0)
    true = rng.normal(size=500)
    pred = true + rng.normal(scale=0.5, size=500)
    m = regression_metrics(true, pred)
    assert m["pearson"] == pytest.approx(stats.pearsonr(true, pred)[0])
    assert m["spearman"] == pytest.approx(stats.spearmanr(true, pred)[0])
    assert m["mse"] == pytest.approx(np.mean((true - pred) ** 2))
    ss_res, ss_tot = np.sum((true - pred) ** 2), np.sum((true - true.mean()) ** 2)
    assert m["r2"] == pytest.approx(1 - ss_res / ss_tot)


def test_constant_predictions_have_no_correlation() -> None:
    m = regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0], ranking=True)
    assert m["pearson"] is None and m["spearman"] is None
    assert m["r2"] == pytest.approx(0.0)
    assert math.isfinite(m["mse"])


def test_empty_split_gives_nulls() -> None:
    m = regression_metrics([], [], ranking=True)
    assert m["n"] == 0
    assert all(m[k] is None for k in m if k != "n")


def test_top_k_overlap_counts_shared_variants() -> None:
    true = np.arange(10.0)  # top 3: indices 9, 8, 7
    pred = np.array([0, 0, 0, 0, 0, 0, 0, 5, 1, 9.0])  # predicted top 3: 9, 7, 8
    assert top_k_overlap(true, pred, 3) == 1.0
    pred2 = np.array([9, 8, 7, 0, 0, 0, 0, 0, 0, 1.0])  # predicted top 3: 0, 1, 2
    assert top_k_overlap(true, pred2, 3) == 0.0
    pred3 = np.array([9, 8, 0, 0, 0, 0, 0, 0, 0, 10.0])  # 9, 0, 1
    assert top_k_overlap(true, pred3, 3) == pytest.approx(1 / 3)
    assert top_k_overlap(true[:2], pred[:2], 20) == 1.0  # k shrinks to n


def test_ndcg_known_value() -> None:
    true = np.array([3.0, 2.0, 1.0, 0.0])
    reversed_order = np.array([0.0, 1.0, 2.0, 3.0])
    ideal = 3 / np.log2(2) + 2 / np.log2(3) + 1 / np.log2(4)
    got = 0 / np.log2(2) + 1 / np.log2(3) + 2 / np.log2(4) + 3 / np.log2(5)
    assert ndcg_at_k(true, reversed_order, 4) == pytest.approx(got / ideal)
    assert ndcg_at_k(true + 10, true, 4) == pytest.approx(1.0)  # gains are shifted to >= 0
    assert ndcg_at_k(np.ones(5), np.arange(5.0), 3) is None  # no gain at all


# ------------------------------------------------------------------------------ classification
# Every expected value below is computed by hand in the comments (no library in the loop).

CLASSES3 = ("A", "B", "C")
TRUE3 = [0, 0, 0, 1, 1, 2]
PROBA3 = [
    [0.7, 0.2, 0.1],  # A, predicted A
    [0.5, 0.4, 0.1],  # A, predicted A
    [0.2, 0.6, 0.2],  # A, predicted B
    [0.1, 0.8, 0.1],  # B, predicted B
    [0.3, 0.3, 0.4],  # B, predicted C
    [0.2, 0.2, 0.6],  # C, predicted C
]


def test_multiclass_metrics_on_known_values() -> None:
    from dmsweep.train.metrics import classification_metrics

    m = classification_metrics(TRUE3, PROBA3, CLASSES3)
    # rows true A, B, C; columns predicted A, B, C
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["n_per_class"] == {"A": 3, "B": 2, "C": 1}
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    # recalls 2/3, 1/2, 1/1
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)  # 13/18
    # F1 = 2 TP / (support + predicted): A 4/5, B 2/4, C 2/3
    assert m["macro_f1"] == pytest.approx((4 / 5 + 1 / 2 + 2 / 3) / 3)  # 59/90
    assert m["per_class"]["A"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8})
    assert m["per_class"]["B"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert m["per_class"]["C"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3})
    # -mean log p(true class): .7, .5, .2, .8, .3, .6
    expected_loss = -np.mean(np.log([0.7, 0.5, 0.2, 0.8, 0.3, 0.6]))
    assert m["log_loss"] == pytest.approx(expected_loss)
    # one-vs-rest AUROC, pairs positive > negative (ties half):
    # A: positives .7 .5 .2 vs negatives .1 .3 .2 -> 3 + 3 + 1.5 = 7.5 of 9
    # B: positives .8 .3 vs negatives .2 .4 .6 .2 -> 4 + 2 = 6 of 8
    # C: positive .6 vs negatives .1 .1 .2 .1 .4 -> 5 of 5
    assert m["auroc"] == pytest.approx((7.5 / 9 + 6 / 8 + 1) / 3)  # 31/36


def test_binary_metrics_on_known_values() -> None:
    from dmsweep.train.metrics import classification_metrics

    p1 = [0.1, 0.6, 0.4, 0.9]
    proba = [[1 - p, p] for p in p1]
    m = classification_metrics([0, 0, 1, 1], proba, ("no", "yes"))
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]
    assert m["accuracy"] == 0.5 and m["balanced_accuracy"] == 0.5 and m["macro_f1"] == 0.5
    # positives .4 .9 vs negatives .1 .6: (.4 > .1) + (.9 > .1) + (.9 > .6) = 3 of 4
    assert m["auroc"] == pytest.approx(0.75)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.9])))


def test_a_class_predicted_but_never_true_counts_zero_f1() -> None:
    from dmsweep.train.metrics import classification_metrics

    # true: A A B; predicted: A C B -> A f1 2*1/(2+1)=2/3, B 1, C 0 (predicted once, never true)
    proba = [[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1]]
    m = classification_metrics([0, 0, 1], proba, CLASSES3)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)  # C has no member
    assert m["per_class"]["C"] == {"precision": 0.0, "recall": None, "f1": 0.0}
    assert m["n_per_class"]["C"] == 0


def test_classification_metrics_undefined_cases() -> None:
    from dmsweep.train.metrics import classification_metrics

    one_class = classification_metrics([1, 1], [[0.2, 0.8], [0.4, 0.6]], ("no", "yes"))
    assert one_class["auroc"] is None and one_class["accuracy"] == 1.0
    empty = classification_metrics([], np.zeros((0, 3)), CLASSES3)
    assert empty["n"] == 0 and empty["log_loss"] is None and empty["accuracy"] is None
    assert empty["confusion_matrix"] == [[0] * 3] * 3
    with pytest.raises(ValueError, match="shape"):
        classification_metrics([0, 1], [[1.0, 0.0, 0.0]], CLASSES3)


def test_log_loss_clips_certain_mistakes() -> None:
    from dmsweep.train.metrics import LOG_LOSS_EPSILON, classification_metrics

    m = classification_metrics([0], [[0.0, 1.0]], ("no", "yes"))
    assert m["log_loss"] == pytest.approx(-math.log(LOG_LOSS_EPSILON))


def test_classification_agrees_with_scikit_learn_when_installed() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    from dmsweep.train.metrics import classification_metrics

    rng = np.random.default_rng(3)
    true = rng.integers(0, 4, size=300)
    logits = rng.normal(size=(300, 4)) + 1.5 * np.eye(4)[true]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    m = classification_metrics(true, proba, ("a", "b", "c", "d"))
    pred = proba.argmax(axis=1)
    assert m["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(true, pred))
    assert m["balanced_accuracy"] == pytest.approx(
        sklearn_metrics.balanced_accuracy_score(true, pred)
    )
    assert m["macro_f1"] == pytest.approx(sklearn_metrics.f1_score(true, pred, average="macro"))
    assert m["auroc"] == pytest.approx(
        sklearn_metrics.roc_auc_score(true, proba, multi_class="ovr", average="macro")
    )
    assert m["log_loss"] == pytest.approx(sklearn_metrics.log_loss(true, proba), rel=1e-6)
