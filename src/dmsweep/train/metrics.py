"""Regression and ranking metrics of predicted scores (plain NumPy/SciPy, no TensorFlow).

Every metric the job contract names (docs/job-contract.md): `mse`, `pearson`, `spearman`,
`r2`, `n` for each split, plus `top20_overlap`, `top100_overlap` and `ndcg100` for the splits
where ranking matters (tune, test). A metric that cannot be computed (constant predictions
have no correlation, an empty split has no mean) is None, written as JSON null.
"""

from __future__ import annotations

import math
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
