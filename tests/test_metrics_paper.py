"""The paper's metrics (docs/METHOD.md §7, docs/BASELINES.md §4.1) and the label-image metrics they use.

Golden values from the paper-time code, the spec's toy checks, the published test cases of
scikit-image / scikit-learn re-derived by hand, equality with the library calls on random pairs,
and the documented edge cases.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from skimage.measure import label
from skimage.metrics import adapted_rand_error as sk_adapted_rand_error
from skimage.metrics import hausdorff_distance
from skimage.metrics import variation_of_information as sk_vi
from sklearn.metrics import adjusted_rand_score

from metrics import (
    adapted_rand_error,
    adjusted_rand_index,
    ari,
    mdice,
    mhd,
    miou,
    variation_of_information,
    vi,
    vi_split_merge,
)

GOLDEN_PAIRS = ("m05_noisy5pct_membrane_128", "m08_shifted_blobs_96x160", "m12_gap_and_wall_membrane_128")
GOLDEN_KEYS = {"miou_positive": miou, "mdice": mdice, "vi": vi, "ari": ari, "hausdorff_modified": mhd}


def membrane_pair(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The spec's VI/ARI toys on 5×7: gt = two cells split by a membrane in column 3.

    ``merge``: the prediction has a one-pixel gap in the membrane (two cells merged);
    ``split``: the prediction adds a membrane across the left cell (row 2, columns 0-2).
    Returns (pred, gt) int arrays, 1 = membrane.
    """
    gt = np.zeros((5, 7), int)
    gt[:, 3] = 1
    pred = gt.copy()
    if kind == "merge":
        pred[2, 3] = 0
    else:
        pred[2, :3] = 1
    return pred, gt


# ---------------------------------------------------------------- golden values (paper-time code)


@pytest.mark.parametrize("pair", GOLDEN_PAIRS)
@pytest.mark.parametrize("key", sorted(GOLDEN_KEYS))
def test_golden_values(golden, pair, key):
    pred, gt = golden[f"metric__{pair}__pred"], golden[f"metric__{pair}__gt"]
    expected = float(golden[f"metric__{pair}__{key}"])
    assert GOLDEN_KEYS[key](pred, gt) == pytest.approx(expected, abs=1e-9, rel=0)


# ---------------------------------------------------------------- spec toys


def test_3x3_toy_miou_mdice():
    # gt and pred each have three class-1 pixels, two shared: TP 2, FP 1, FN 1, TN 5.
    gt = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]])
    pred = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]])
    assert miou(pred, gt) == pytest.approx(17 / 28, abs=1e-12)  # ½(2/4 + 5/7) = 0.607143
    assert round(miou(pred, gt), 6) == 0.607143
    assert mdice(pred, gt) == pytest.approx(0.75, abs=1e-12)  # ½(4/6 + 10/12)


def test_membrane_gap_merge_toy():
    pred, gt = membrane_pair("merge")
    split, merge = vi_split_merge(pred, gt)
    assert split == pytest.approx(0.0, abs=1e-12)
    assert merge == pytest.approx(1.0, abs=1e-12)  # two equal cells merged: 1 bit
    assert vi(pred, gt) == pytest.approx(1.0, abs=1e-12)
    assert ari(pred, gt) == pytest.approx(0.24423, abs=5e-6)


def test_extra_membrane_split_toy():
    pred, gt = membrane_pair("split")
    assert vi(pred, gt) == pytest.approx(0.76096, abs=5e-6)
    assert ari(pred, gt) == pytest.approx(0.66852, abs=5e-6)
    # The left cell (15 px) is cut into 6 + 3 (predicted label 0) + 6 pixels; nothing is merged:
    # split = −(2·(6/30)·log2(6/15) + (3/30)·log2(3/15)) over the 30 gt cell pixels.
    split, merge = vi_split_merge(pred, gt)
    assert split == pytest.approx(-(2 * 0.2 * math.log2(0.4) + 0.1 * math.log2(0.2)), abs=1e-12)
    assert merge == 0.0


# ---------------------------------------------------------------- hand-computed small cases


def test_perfect_prediction():
    _, gt = membrane_pair("merge")
    assert miou(gt, gt) == 1.0 and mdice(gt, gt) == 1.0
    assert vi(gt, gt) == 0.0 and vi_split_merge(gt, gt) == (0.0, 0.0)
    assert ari(gt, gt) == 1.0 and mhd(gt, gt) == 0.0


def test_inverted_prediction():
    _, gt = membrane_pair("merge")
    assert miou(1 - gt, gt) == 0.0 and mdice(1 - gt, gt) == 0.0
    # The membrane column predicted as one cell; both gt cells predicted as label 0 -> one segment.
    assert vi(1 - gt, gt) == pytest.approx(1.0, abs=1e-12)


def test_mhd_hand_computed():
    # A = {(1,1)}, B = {(1,1), (1,5)}: mean A->B = 0, mean B->A = (0 + 4)/2 = 2.
    a = np.zeros((3, 7), int)
    a[1, 1] = 1
    b = a.copy()
    b[1, 5] = 1
    assert mhd(a, b) == 2.0 and mhd(b, a) == 2.0


# ---------------------------------------------------------------- documented edge cases


def test_class_absent_from_both_maps_is_nan():
    zeros = np.zeros((4, 4))
    assert math.isnan(miou(zeros, zeros)) and math.isnan(mdice(zeros, zeros))
    ones = np.ones((4, 4))
    assert math.isnan(miou(ones, ones)) and math.isnan(mdice(ones, ones))


def test_empty_prediction_values():
    _, gt = membrane_pair("merge")
    empty = np.zeros_like(gt)
    # class 1: IoU 0; class 0: 30 / 35 pixels.
    assert miou(empty, gt) == pytest.approx(0.5 * 30 / 35, abs=1e-15)
    assert mhd(empty, gt) == math.inf and mhd(gt, empty) == math.inf
    assert mhd(empty, empty) == 0.0
    assert vi(empty, gt) == pytest.approx(1.0, abs=1e-12)  # the two cells merged into one


def test_vi_without_gt_cells_is_ten():
    gt = np.ones((4, 4))
    pred = np.zeros((4, 4))
    assert vi(pred, gt) == 10.0
    split, merge = vi_split_merge(pred, gt)
    assert math.isnan(split) and math.isnan(merge)
    assert ari(gt, gt) == 1.0  # a single cluster on both sides


@pytest.mark.parametrize("fn", [miou, mdice, vi, ari, mhd, vi_split_merge])
def test_invalid_inputs_raise(fn):
    good = np.zeros((4, 4))
    with pytest.raises(ValueError, match=r"pred has shape \(4, 5\) but gt has shape \(4, 4\)"):
        fn(np.zeros((4, 5)), good)
    with pytest.raises(ValueError, match="gt must be binary"):
        fn(good, np.full((4, 4), 2.0))
    with pytest.raises(ValueError, match="pred must be binary"):
        fn(np.full((4, 4), 0.5), good)
    with pytest.raises(ValueError, match=r"gt must be a 2-D .* shape \(1, 4, 4\)"):
        fn(good, good[None])


# ---------------------------------------------------------------- equality with the library calls


def _random_pairs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        h, w = rng.integers(1, 24, size=2)
        pred = (rng.random((h, w)) < rng.random()).astype(np.int64)
        gt = (rng.random((h, w)) < rng.random()).astype(np.float32)
        yield pred, gt


def test_paper_metrics_equal_library_calls_on_random_pairs():
    checked = 0
    for pred, gt in _random_pairs(60):
        g_lab = label(gt, background=1, connectivity=1)
        p_lab = label(pred, background=1, connectivity=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # skimage's 0/0 when gt has no cell
            ref_split, ref_merge = sk_vi(g_lab, p_lab, ignore_labels=[0])
        split, merge = vi_split_merge(pred, gt)
        if np.isnan(ref_split + ref_merge):
            assert np.isnan(split) and np.isnan(merge) and vi(pred, gt) == 10.0
        else:
            assert split == pytest.approx(ref_split, abs=1e-12)
            assert merge == pytest.approx(ref_merge, abs=1e-12)
            checked += 1
        assert ari(pred, gt) == pytest.approx(adjusted_rand_score(p_lab.ravel(), g_lab.ravel()), abs=1e-12)
        ref_mhd = hausdorff_distance(pred, gt, method="modified")
        assert mhd(pred, gt) == (ref_mhd if math.isinf(ref_mhd) else pytest.approx(ref_mhd, abs=1e-12))
    assert checked > 30


# ---------------------------------------------------------------- label-image metrics: published cases


def test_vi_published_cases():
    # [1,2,3,4] vs [1,1,8,8]: each test segment holds two true segments of equal size -> 1 bit.
    split, merge = variation_of_information(np.array([[1, 2, 3, 4]]), np.array([[1, 1, 8, 8]]))
    assert split == 0.0 and merge == pytest.approx(1.0, abs=1e-15)
    # ignore_labels acts on the first (true) image: the true-0 pixel is dropped; of the three
    # left, test label 1 holds true 1 and 2 (1 bit over 2/3 of the mass).
    split, merge = variation_of_information(
        np.array([[1, 0], [2, 3]]), np.array([[1, 1], [1, 0]]), ignore_labels=[0]
    )
    assert split == 0.0 and merge == pytest.approx(2 / 3, abs=1e-15)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 1, 1], [0, 0, 1, 1], 1.0),
        ([0, 0, 1, 1], [1, 1, 0, 0], 1.0),
        ([0, 0, 1, 2], [0, 0, 1, 1], 4 / 7),  # (1 − 1/3) / (3/2 − 1/3)
        ([0, 0, 0, 0], [0, 1, 2, 3], 0.0),
        ([0, 0, 1, 1], [0, 1, 0, 1], -0.5),
        ([3, 3, 3], [5, 5, 5], 1.0),  # one cluster on both sides
    ],
)
def test_ari_published_cases(a, b, expected):
    a, b = np.array([a]), np.array([b])
    assert adjusted_rand_index(a, b) == pytest.approx(expected, abs=1e-15)
    assert adjusted_rand_index(b, a) == pytest.approx(expected, abs=1e-15)


def test_adapted_rand_toy_both_conventions():
    true = np.array([[2, 1], [1, 2]])
    test = np.array([[1, 2], [3, 1]])
    # SNEMI3D: Σn² = 6, Σa² = 8, Σb² = 6 -> P = 1, R = 3/4, ARE = 1 − 6/7.
    assert adapted_rand_error(true, test) == pytest.approx(1 / 7, abs=1e-15)
    assert round(adapted_rand_error(true, test), 4) == 0.1429
    # scikit-image pair counts: Σ(n²−n) = 2, Σ(a²−a) = 4, Σ(b²−b) = 2 -> 1 − 2/3.
    assert adapted_rand_error(true, test, convention="skimage") == pytest.approx(1 / 3, abs=1e-15)


def test_adapted_rand_snemi3d_singletons_hand_computed():
    # gt 0 excluded; the predicted-0 pixel inside gt 1 is a singleton weighing 1/N (N = 6 pixels):
    # Σ_AB = 5 + 1/6 = Σ_B, Σ_A = 8 -> P = 1, R = 31/48, ARE = 1 − 62/79 = 17/79.
    gt = np.array([[0, 1, 1], [0, 2, 2]])
    pred = np.array([[1, 1, 0], [2, 2, 2]])
    assert adapted_rand_error(gt, pred) == pytest.approx(17 / 79, abs=1e-15)


def test_adapted_rand_edge_cases_and_errors():
    assert adapted_rand_error(np.array([[1, 1], [2, 2]]), np.array([[5, 5], [7, 7]])) == 0.0
    assert math.isnan(adapted_rand_error(np.zeros((2, 2), int), np.ones((2, 2), int)))
    with pytest.raises(ValueError, match="convention"):
        adapted_rand_error(np.ones((2, 2), int), np.ones((2, 2), int), convention="cremi")
    with pytest.raises(ValueError, match="non-negative"):
        adapted_rand_error(-np.ones((2, 2), int), np.ones((2, 2), int))


def test_adapted_rand_skimage_form_equals_skimage_on_random_labels():
    rng = np.random.default_rng(1)
    for _ in range(40):
        shape = tuple(rng.integers(2, 16, size=2))
        true = rng.integers(0, rng.integers(2, 6), size=shape)
        test = rng.integers(0, rng.integers(2, 6), size=shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = sk_adapted_rand_error(true, test)[0]
        mine = adapted_rand_error(true, test, convention="skimage")
        assert (math.isnan(ref) and math.isnan(mine)) or mine == pytest.approx(ref, abs=1e-12)


def test_many_labels_take_the_sparse_contingency_path():
    # 4096 distinct labels on both sides exceed the dense bincount budget (4 cells per pixel).
    a = np.arange(4096).reshape(64, 64)
    b = np.roll(a, 1, axis=1)
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a.ravel(), b.ravel()), abs=1e-12)
    assert variation_of_information(a, b, ignore_labels=()) == (0.0, 0.0)
