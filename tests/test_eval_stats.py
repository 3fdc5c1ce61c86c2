"""Paired significance numbers on hand-made pairs (evaluation/stats.py)."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.naming import PAPER_METRICS
from evaluation.stats import bootstrap_mean_ci, compare, wilcoxon_signed_rank


def test_wilcoxon_exact_all_positive():
    # n = 5 differences, all positive: W- = 0, exact two-sided p = 2 / 2^5
    stat, p = wilcoxon_signed_rank(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert stat == 0.0 and p == pytest.approx(0.0625)


def test_wilcoxon_degenerate_cases():
    assert wilcoxon_signed_rank(np.zeros(4))[1] == 1.0
    assert np.isnan(wilcoxon_signed_rank(np.array([]))[1])


def test_bootstrap_ci_seeded_and_brackets_the_mean():
    diffs = np.array([0.1, -0.05, 0.2, 0.15, 0.0, 0.3])
    a, b = bootstrap_mean_ci(diffs, n_boot=2000, seed=3), bootstrap_mean_ci(diffs, n_boot=2000, seed=3)
    assert a == b
    assert a[0] < diffs.mean() < a[1]
    assert a[0] >= diffs.min() and a[1] <= diffs.max()
    assert bootstrap_mean_ci(np.full(5, 0.25), n_boot=100) == pytest.approx((0.25, 0.25))


def test_compare_direction_vi_lower_is_better():
    vi = PAPER_METRICS[2]
    spw, other = np.array([1.0, 1.1, 0.9, 1.0, 1.2, 0.8]), np.array([2.0, 2.1, 1.9, 2.0, 2.2, 1.8])
    row = compare(spw, other, vi, n_boot=500, seed=0)
    assert row["mean_diff"] == pytest.approx(-1.0) and row["spw_better"]
    assert row["p_value"] == pytest.approx(2 / 2**6) and row["significant"]
    assert row["ci_low"] == pytest.approx(-1.0) and row["ci_high"] == pytest.approx(-1.0)
    miou = PAPER_METRICS[0]
    assert not compare(spw, other, miou, n_boot=50, seed=0)["spw_better"]
