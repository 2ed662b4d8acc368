"""Regression, ranking and classification metrics (plain NumPy/SciPy, no TensorFlow).

Every metric the job contract names (docs/job-contract.md). Regression: `mse`, `pearson`,
`spearman`, `r2`, `n` for each split, plus `top20_overlap`, `top100_overlap` and `ndcg100`
for the splits where ranking matters (tune, test). Classification (`classification_metrics`):
`log_loss`, `accuracy`, `balanced_accuracy`, `macro_f1`, `auroc`, `n`, and the tables
`n_per_class`, `confusion_matrix` and `per_class` (precision, recall, f1). A metric that
cannot be computed (constant predictions have no correlation, an empty split has no mean, a
split with one class has no AUROC) is None, written as JSON null.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

TOP_KS = (20, 100)
NDCG_K = 100


def regression_metrics(y_true: Any, y_pred: Any, *, ranking: bool = False) -> dict[str, Any]:
    """mse, pearson, spearman, r2, n; with `ranking`, also the topK overlaps and ndcg100."""
    true = np.asarray(y_true, dtype=np.float64).ravel()
    pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} values but y_pred has {pred.size}")
    n = int(true.size)
    out: dict[str, Any] = {
        "mse": _finite(np.mean((true - pred) ** 2)) if n else None,
        "pearson": _correlation(true, pred, stats.pearsonr),
        "spearman": _correlation(true, pred, stats.spearmanr),
        "r2": r2_score(true, pred),
        "n": n,
    }
    if ranking:
        for k in TOP_KS:
            out[f"top{k}_overlap"] = top_k_overlap(true, pred, k)
        out[f"ndcg{NDCG_K}"] = ndcg_at_k(true, pred, NDCG_K)
    return out


def r2_score(true: np.ndarray, pred: np.ndarray) -> float | None:
    """Coefficient of determination 1 - SS_res / SS_tot (None when the truth is constant)."""
    if true.size < 2:
        return None
    ss_tot = float(np.sum((true - true.mean()) ** 2))
    if ss_tot == 0.0:
        return None
    return _finite(1.0 - float(np.sum((true - pred) ** 2)) / ss_tot)


def top_k_overlap(true: np.ndarray, pred: np.ndarray, k: int) -> float | None:
    """Fraction of the true top-k variants (highest scores) that are in the predicted top k.

    With fewer than k variants, k shrinks to their number (and the overlap is then 1.0).
    """
    k = min(k, true.size)
    if k == 0:
        return None
    top_true = set(_top(true, k).tolist())
    top_pred = set(_top(pred, k).tolist())
    return len(top_true & top_pred) / k


def ndcg_at_k(true: np.ndarray, pred: np.ndarray, k: int) -> float | None:
    """NDCG of the predicted top k; gains are the true scores shifted so the lowest is 0."""
    k = min(k, true.size)
    if k == 0:
        return None
    gains = true - true.min()
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = float(np.sum(gains[_top(true, k)] * discounts))
    if ideal == 0.0:
        return None
    return _finite(float(np.sum(gains[_top(pred, k)] * discounts)) / ideal)


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, ties broken by position (stable, deterministic)."""
    return np.argsort(-values, kind="stable")[:k]


def _correlation(true: np.ndarray, pred: np.ndarray, fn: Any) -> float | None:
    if true.size < 2 or np.all(true == true[0]) or np.all(pred == pred[0]):
        return None
    return _finite(fn(true, pred)[0])


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------------------ classification

LOG_LOSS_EPSILON = 1e-7
"""Probabilities are clipped to [eps, 1 - eps] before the log (Keras' own epsilon, so the
log loss here is the loss the model was trained and selected on)."""
CLASSIFICATION_KEYS = ("log_loss", "accuracy", "balanced_accuracy", "macro_f1", "auroc", "n")
"""The scalar metrics of a classification split, in the order metrics.json lists them."""
CLASSIFICATION_TABLES = ("n_per_class", "confusion_matrix", "per_class")


def classification_metrics(
    y_true: Any, probabilities: Any, classes: Sequence[str]
) -> dict[str, Any]:
    """Metrics of class probabilities `probabilities` (n, C) against true class indices.

    - `log_loss`: mean of -log p(true class) (clipped, `LOG_LOSS_EPSILON`).
    - `accuracy`: fraction whose most probable class (lowest index on ties) is the true one.
    - `balanced_accuracy`: mean recall over the classes present in `y_true`.
    - `macro_f1`: mean F1 over the classes present in `y_true` or in the predictions (a
      class predicted but never true has F1 0), as scikit-learn's `f1_score(average="macro")`.
    - `auroc`: binary (C == 2): the AUROC of p(class 1); multiclass: the mean one-vs-rest
      AUROC over the classes with both positives and negatives in `y_true`; ties count half.
    - `n_per_class`: class -> true count; `confusion_matrix`: C x C counts, row = true class,
      column = predicted class, in the order of `classes`; `per_class`: class -> precision,
      recall, f1 (None where undefined: no prediction / no member of that class).
    """
    true = np.asarray(y_true, dtype=np.int64).ravel()
    proba = np.asarray(probabilities, dtype=np.float64)
    n_classes = len(classes)
    if proba.ndim != 2 or proba.shape != (true.size, n_classes):
        raise ValueError(
            f"probabilities have shape {proba.shape}, expected ({true.size}, {n_classes})"
        )
    if true.size and (true.min() < 0 or true.max() >= n_classes):
        raise ValueError(f"class indices must lie in 0..{n_classes - 1}")
    n = int(true.size)
    predicted = np.argmax(proba, axis=1) if n else np.zeros(0, dtype=np.int64)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (true, predicted), 1)
    support = confusion.sum(axis=1)
    predicted_counts = confusion.sum(axis=0)
    hits = np.diag(confusion)
    per_class: dict[str, dict[str, float | None]] = {}
    f1_scores: list[float] = []
    recalls: list[float] = []
    for c, name in enumerate(classes):
        precision = hits[c] / predicted_counts[c] if predicted_counts[c] else None
        recall = hits[c] / support[c] if support[c] else None
        denominator = support[c] + predicted_counts[c]
        f1 = 2 * hits[c] / denominator if denominator else None
        per_class[name] = {
            "precision": _optional(precision),
            "recall": _optional(recall),
            "f1": _optional(f1),
        }
        if f1 is not None:
            f1_scores.append(float(f1))
        if recall is not None:
            recalls.append(float(recall))
    return {
        "log_loss": log_loss(true, proba) if n else None,
        "accuracy": float(hits.sum() / n) if n else None,
        "balanced_accuracy": float(np.mean(recalls)) if recalls else None,
        "macro_f1": float(np.mean(f1_scores)) if f1_scores else None,
        "auroc": _auroc(true, proba),
        "n": n,
        "n_per_class": {name: int(support[c]) for c, name in enumerate(classes)},
        "confusion_matrix": confusion.tolist(),
        "per_class": per_class,
    }


def log_loss(true: np.ndarray, proba: np.ndarray) -> float | None:
    """Mean negative log probability of the true class (probabilities clipped)."""
    picked = proba[np.arange(true.size), true]
    clipped = np.clip(picked, LOG_LOSS_EPSILON, 1.0 - LOG_LOSS_EPSILON)
    return _finite(-np.mean(np.log(clipped)))


def binary_auroc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve: the probability that a random positive scores above a
    random negative, ties counted half (the Mann-Whitney U statistic over n+ n-)."""
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = int(positive.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = stats.rankdata(scores)  # average ranks: ties count half
    u = float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2.0
    return _finite(u / (n_pos * n_neg))


def _auroc(true: np.ndarray, proba: np.ndarray) -> float | None:
    if proba.shape[1] == 2:
        return binary_auroc(true == 1, proba[:, 1])
    values = [binary_auroc(true == c, proba[:, c]) for c in range(proba.shape[1])]
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def _optional(value: Any) -> float | None:
    return None if value is None else _finite(value)
