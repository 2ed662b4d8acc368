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
