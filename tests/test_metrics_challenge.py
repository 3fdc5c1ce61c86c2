"""Challenge metrics (docs/BASELINES.md §4.2-§4.6) and the ``compute_metrics`` entry point.

DRIVE FOV metrics against hand counts and scikit-learn's AUC; GlaS object metrics against a literal
loop-and-pairwise-distance transcription of the official Matlab definitions; clDice, Betti errors
and HD95 on hand-built shapes and against a brute-force HD95; the entry point's columns, edge cases
and input errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist
from sklearn.metrics import roc_auc_score

from metrics import (
    FAMILIES,
    METRIC_DESCRIPTIONS,
    betti_errors,
    betti_numbers,
    cldice,
    compute_metrics,
    fov_metrics,
    hd95,
    object_dice,
    object_f1,
    object_hausdorff,
    object_metrics,
    roc_auc,
)

ALWAYS = {"miou", "mdice", "vi", "vi_split", "vi_merge", "ari", "mhd", "hd95_monai"}
THIN = {"cldice", "betti0_err", "betti1_err"}


# ---------------------------------------------------------------- DRIVE FOV metrics


def test_fov_metrics_hand_counted():
    prob = np.array([[0.9, 0.2, 0.7], [0.1, 0.6, 0.0]])
    gt = np.array([[1, 0, 0], [1, 1, 0]])
    fov = np.array([[1, 1, 1], [1, 1, 0]])  # the last pixel is outside and ignored
    # inside: pred [1,0,1,0,1], gt [1,0,0,1,1] -> TP 2, FP 1, FN 1, TN 1.
    m = fov_metrics(prob, gt, fov)
    assert m["fov_acc"] == pytest.approx(3 / 5)
    assert m["fov_sens"] == pytest.approx(2 / 3)
    assert m["fov_spec"] == pytest.approx(1 / 2)
    # positives {0.9, 0.1, 0.6} vs negatives {0.2, 0.7}: 0.9 beats both, 0.1 none, 0.6 one: 3 of 6.
    assert m["fov_auc"] == pytest.approx(roc_auc_score([1, 0, 0, 1, 1], [0.9, 0.2, 0.7, 0.1, 0.6]))
    assert m["fov_auc"] == pytest.approx(3 / 6)


def test_fov_threshold_is_strict():
    m = fov_metrics(np.array([[0.5, 0.5]]), np.array([[1, 0]]), np.ones((1, 2)))
    assert m["fov_sens"] == 0.0 and m["fov_spec"] == 1.0 and m["fov_auc"] == 0.5  # a tie counts ½


def test_roc_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 400))
        labels = rng.random(n) < rng.random()
        scores = np.round(rng.random(n) * rng.integers(1, 20)) / 20  # many ties
        if labels.all() or not labels.any():
            assert math.isnan(roc_auc(scores, labels))
            continue
        assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_fov_undefined_parts_are_nan_only_there():
    m = fov_metrics(np.zeros((2, 2)), np.zeros((2, 2)), np.ones((2, 2)))
    assert m["fov_acc"] == 1.0 and m["fov_spec"] == 1.0
    assert math.isnan(m["fov_sens"]) and math.isnan(m["fov_auc"])


def test_fov_input_errors():
    with pytest.raises(ValueError, match=r"fov has shape \(2, 3\) but gt has shape \(2, 2\)"):
        fov_metrics(np.zeros((2, 2)), np.zeros((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="fov must be binary"):
        fov_metrics(np.zeros((2, 2)), np.zeros((2, 2)), np.full((2, 2), 255))


# ---------------------------------------------------------------- GlaS object metrics


def _oracle_partner(obj: np.ndarray, other: np.ndarray) -> int:
    """Matlab: intersect list of the other map's labels under obj, zeros deleted, then mode (smallest on ties)."""
    hits = other[obj]
    hits = hits[hits != 0]
    if hits.size == 0:
        return 0
    values, counts = np.unique(hits, return_counts=True)
    return int(values[np.argmax(counts)])


def _oracle_hd(a: np.ndarray, b: np.ndarray) -> float:
    d = cdist(np.argwhere(a), np.argwhere(b))
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def _oracle_glas(s: np.ndarray, g: np.ndarray) -> tuple[float, float, float]:
    """Literal transcription of F1score.m / ObjectDice.m / ObjectHausdorff.m (loops, pairwise distances)."""
    ids_s = [i for i in np.unique(s) if i]
    ids_g = [j for j in np.unique(g) if j]
    tp = 0
    for i in ids_s:
        j = _oracle_partner(s == i, g)
        if j and np.sum((s == i) & (g == j)) / np.sum(g == j) > 0.5:
            tp += 1
    f1 = 2 * tp / (len(ids_s) + len(ids_g)) if tp else 0.0  # = 2PR/(P+R)

    def one_side(x, y, ids_x, ids_y):
        dice = hd = 0.0
        for i in ids_x:
            xi = x == i
            w = xi.sum() / (x > 0).sum()
            j = _oracle_partner(xi, y)
            yj = (y == j) if j else np.zeros_like(xi)
            dice += w * 2 * np.sum(xi & yj) / (xi.sum() + yj.sum())
            hd += w * (_oracle_hd(xi, yj) if j else min(_oracle_hd(xi, y == k) for k in ids_y))
        return dice, hd

    d1, h1 = one_side(s, g, ids_s, ids_g)
    d2, h2 = one_side(g, s, ids_g, ids_s)
    return f1, (d1 + d2) / 2, (h1 + h2) / 2


def test_glas_toy_partial_overlaps_hand_computed():
    # G1 (row 1, cols 0-2, 3 px), G2 (1 px at (3,1)); S1 covers G1 plus one pixel (TP), S2 a
    # vertical bar far from G2 (FP), G2 undetected (FN): F1 = 2·1/(2+2) = 0.5.
    g = np.zeros((4, 6), int)
    g[1, 0:3] = 1
    g[3, 1] = 2
    s = np.zeros((4, 6), int)
    s[1, 0:4] = 1
    s[1:4, 4] = 2
    m = object_metrics(s, g)
    assert m["obj_f1"] == 0.5
    # S side: S1 (4/7) Dice 6/7; S2 (3/7) no overlap, Dice 0. G side: G1 (3/4) Dice 6/7; G2 (1/4) 0.
    # ½(4/7·6/7 + 3/4·6/7) = 111/196 = 0.56633.
    assert m["obj_dice"] == pytest.approx(111 / 196, abs=1e-15)
    assert round(m["obj_dice"], 5) == 0.56633
    # HD(S1, G1) = 1. S2 touches nothing: HD(S2, G2) = max(√13, 3) = √13 < HD(S2, G1) = 4.
    # G2 touches nothing: HD(G2, S1) = max(2, √8) = √8 < HD(G2, S2) = √13.
    expected_hd = 0.5 * (4 / 7 * 1 + 3 / 7 * math.sqrt(13) + 3 / 4 * 1 + 1 / 4 * math.sqrt(8))
    assert m["obj_hd"] == pytest.approx(expected_hd, abs=1e-12)
    assert (object_f1(s, g), object_dice(s, g), object_hausdorff(s, g)) == (
        m["obj_f1"],
        m["obj_dice"],
        m["obj_hd"],
    )


def test_glas_majority_partner_ignores_background():
    # S1 lies mostly on background (9 px) and covers 2 of G1's 3 pixels: the Matlab code deletes the
    # zeros before the mode, so G1 is its partner and 2/3 > 50% makes it a true positive. The
    # widely copied Python port (mode with zeros) would call it a false positive.
    g = np.zeros((4, 4), int)
    g[0, 0:3] = 1
    s = np.zeros((4, 4), int)
    s[0, 1:4] = 1
    s[1:3, :] = 1
    assert object_f1(s, g) == 1.0


def test_glas_perfect_and_empty():
    g = np.zeros((6, 6), int)
    g[0:2, 0:2], g[3:6, 3:6] = 1, 2
    assert object_metrics(g * 5, g) == {"obj_f1": 1.0, "obj_dice": 1.0, "obj_hd": 0.0}
    empty = np.zeros_like(g)
    assert object_metrics(empty, empty) == {"obj_f1": 1.0, "obj_dice": 1.0, "obj_hd": 0.0}
    assert object_metrics(empty, g) == {"obj_f1": 0.0, "obj_dice": 0.0, "obj_hd": math.inf}
    assert object_metrics(g, empty) == {"obj_f1": 0.0, "obj_dice": 0.0, "obj_hd": math.inf}


def test_glas_metrics_equal_matlab_transcription_on_random_objects():
    rng = np.random.default_rng(3)
    for _ in range(25):
        shape = tuple(rng.integers(6, 20, size=2))
        maps = []
        for _side in range(2):
            lab = np.zeros(shape, int)
            for k in range(1, int(rng.integers(1, 6))):
                r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
                lab[r : r + rng.integers(1, 7), c : c + rng.integers(1, 7)] = k
            maps.append(lab)
        s, g = maps
        if not s.any() or not g.any():
            continue
        expected = _oracle_glas(s, g)
        m = object_metrics(s, g)
        assert (m["obj_f1"], m["obj_dice"]) == (
            pytest.approx(expected[0]),
            pytest.approx(expected[1], abs=1e-12),
        )
        assert m["obj_hd"] == pytest.approx(expected[2], abs=1e-12)


# ---------------------------------------------------------------- clDice, Betti, HD95


def _ring(broken: bool) -> np.ndarray:
    mask = np.zeros((9, 9), bool)
    mask[2:7, 2:7] = True
    mask[3:6, 3:6] = False
    if broken:
        mask[2, 4] = False
    return mask


def test_betti_closed_vs_broken_ring():
    assert betti_numbers(_ring(False)) == (1, 1)
    assert betti_numbers(_ring(True)) == (1, 0)
    assert sum(betti_errors(_ring(True), _ring(False))) == 1


def test_betti_connectivity_conventions():
    diagonal = np.eye(4, dtype=bool)  # 8-connected: one component
    assert betti_numbers(diagonal)[0] == 1
    # Four pixels touching only diagonally: one 8-connected component, and its centre pixel is cut
    # off from the 4-connected outer background: one hole (the dual 8/4 pairing).
    diamond = np.zeros((5, 5), bool)
    diamond[[1, 2, 2, 3], [2, 1, 3, 2]] = True
    assert betti_numbers(diamond) == (1, 1)
    cup = np.zeros((4, 5), bool)  # the enclosed region touches the border: not a hole
    cup[1:, 1], cup[1:, 3], cup[3, 1:4] = True, True, True
    cup[3, 2] = False
    cup[1:3, 2] = False
    assert betti_numbers(cup)[1] == 0


def test_cldice_broken_vessel():
    gt = np.zeros((5, 11), bool)
    gt[2, 1:10] = True  # a 9-pixel, one-pixel-wide vessel: its own skeleton
    pred = gt.copy()
    pred[2, 5] = False  # broken in the middle
    # T_prec = |G ∩ skel(P)|/|skel(P)| = 8/8; T_sens = |P ∩ skel(G)|/|skel(G)| = 8/9 -> 16/17.
    assert cldice(pred, gt) == pytest.approx(16 / 17, abs=1e-12)
    assert cldice(gt, gt) == 1.0
    assert betti_errors(pred, gt) == (1, 0)


def test_cldice_empty_cases():
    empty = np.zeros((4, 4))
    line = np.zeros((4, 4))
    line[1, :] = 1
    assert cldice(empty, empty) == 1.0
    assert cldice(empty, line) == 0.0 and cldice(line, empty) == 0.0


def _oracle_hd95(p: np.ndarray, g: np.ndarray) -> float:
    ep = p & ~ndimage.binary_erosion(p)
    eg = g & ~ndimage.binary_erosion(g)
    d = cdist(np.argwhere(ep), np.argwhere(eg))
    return float(max(np.percentile(d.min(axis=1), 95), np.percentile(d.min(axis=0), 95)))


def test_hd95_hand_computed_squares():
    a = np.zeros((10, 10), bool)
    a[2:5, 2:5] = True
    b = np.zeros((10, 10), bool)
    b[2:5, 6:9] = True  # the same 3×3 square, 4 columns to the right
    # Edge pixels: the 8 border pixels of each square; distances from a's edges to b's edges are
    # 2 (right column, 3 px), 3 (middle column, 2 px), 4 (left column, 3 px) -> 95th pct = 4.
    assert hd95(a, b) == pytest.approx(4.0)
    assert hd95(a, a) == 0.0


def test_hd95_equals_brute_force_on_random_masks():
    rng = np.random.default_rng(5)
    for _ in range(25):
        shape = tuple(rng.integers(3, 30, size=2))
        p = ndimage.binary_dilation(rng.random(shape) < 0.05, iterations=int(rng.integers(0, 3)))
        g = ndimage.binary_dilation(rng.random(shape) < 0.05, iterations=int(rng.integers(0, 3)))
        if p.any() and g.any():
            assert hd95(p, g) == pytest.approx(_oracle_hd95(p, g), abs=1e-12)


def test_hd95_edge_cases():
    empty, one = np.zeros((3, 3)), np.eye(3)
    assert hd95(empty, empty) == 0.0 and hd95(empty, one) == math.inf and hd95(one, empty) == math.inf


# ---------------------------------------------------------------- compute_metrics


def _em_pair():
    gt = np.zeros((16, 16))
    gt[:, 7] = 1
    gt[7, :] = 1
    prob = gt * 0.9 + 0.05
    prob[3, 7] = 0.2  # a gap merges the two left cells
    return prob, gt


@pytest.mark.parametrize(
    ("dataset", "kwargs", "extra"),
    [
        ("drive", {"fov": np.ones((16, 16))}, THIN | {"fov_acc", "fov_sens", "fov_spec", "fov_auc"}),
        ("drive", {}, THIN),
        ("em", {}, THIN | {"are_snemi"}),
        ("glas", {}, set()),
        ("glas", {"instances": ndimage.label(np.ones((16, 16)))[0]}, {"obj_f1", "obj_dice", "obj_hd"}),
    ],
)
def test_compute_metrics_columns(dataset, kwargs, extra):
    prob, gt = _em_pair()
    m = compute_metrics(prob, gt, dataset, **kwargs)
    assert set(m) == ALWAYS | extra
    assert all(isinstance(v, float) for v in m.values())
    assert set(m) <= set(METRIC_DESCRIPTIONS)
    assert m["vi"] == pytest.approx(m["vi_split"] + m["vi_merge"])


def test_compute_metrics_em_values():
    prob, gt = _em_pair()
    m = compute_metrics(prob, gt, "em")
    # The gap cuts the top of the vertical membrane off: 2 membrane pieces instead of 1; every
    # cell touches the border, so there is no hole on either side.
    assert (m["betti0_err"], m["betti1_err"]) == (1.0, 0.0)
    assert m["vi_split"] == pytest.approx(0.0, abs=1e-12)
    assert m["vi_merge"] > 0 and 0 < m["are_snemi"] < 1
    # With gt instances the cells are the given ids; splitting cell ids changes the score.
    cells = ndimage.label(gt == 0, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])[0]
    assert compute_metrics(prob, gt, "em", instances=cells)["are_snemi"] == pytest.approx(m["are_snemi"])
    split_cells = np.where(cells == 1, cells + 10 * (np.arange(16) % 2)[None, :], cells)
    assert compute_metrics(prob, gt, "em", instances=split_cells)["are_snemi"] != pytest.approx(
        m["are_snemi"]
    )


def test_compute_metrics_glas_glands_are_class0():
    gt = np.ones((12, 12))
    gt[1:5, 1:5] = 0  # gland 1
    gt[7:11, 6:11] = 0  # gland 2
    instances = ndimage.label(gt == 0)[0]
    m = compute_metrics(gt.copy(), gt, "glas", instances=instances)
    assert (m["obj_f1"], m["obj_dice"], m["obj_hd"]) == (1.0, 1.0, 0.0)
    prob = gt.copy()
    prob[7:11, 6:11] = 1  # gland 2 missed
    assert compute_metrics(prob, gt, "glas", instances=instances)["obj_f1"] == pytest.approx(2 / 3)


def test_compute_metrics_empty_cases_documented():
    gt = np.zeros((8, 8))
    gt[:, 3] = 1
    empty_pred = compute_metrics(np.zeros((8, 8)), gt, "drive", fov=np.ones((8, 8)))
    assert (
        empty_pred["mhd"] == math.inf and empty_pred["hd95_monai"] == math.inf and empty_pred["cldice"] == 0.0
    )
    assert empty_pred["fov_sens"] == 0.0 and not math.isnan(empty_pred["miou"])
    empty_gt = compute_metrics(gt, np.zeros((8, 8)), "em")
    # gt all class 0: one gt cell; the predicted membrane splits it.
    assert empty_gt["mhd"] == math.inf and 0 < empty_gt["are_snemi"] < 1
    both = compute_metrics(np.zeros((8, 8)), np.zeros((8, 8)), "em")
    assert (both["mhd"], both["hd95_monai"], both["cldice"], both["vi"], both["ari"]) == (
        0.0,
        0.0,
        1.0,
        0.0,
        1.0,
    )
    # The one documented NaN: class 1 absent from both maps (paper-time value).
    nan_keys = {k for k, v in both.items() if math.isnan(v)}
    assert nan_keys == {"miou", "mdice"}


def test_compute_metrics_input_errors():
    prob, gt = _em_pair()
    with pytest.raises(ValueError, match="unknown metric family 'drvie'.*drive, glas, em"):
        compute_metrics(prob, gt, "drvie")
    with pytest.raises(ValueError, match=r"prob has shape \(16, 15\) but gt has shape \(16, 16\)"):
        compute_metrics(prob[:, :15], gt, "drive")
    with pytest.raises(ValueError, match=r"prob must hold probabilities in \[0, 1\]"):
        compute_metrics(prob * 2, gt, "drive")
    with pytest.raises(ValueError, match="gt must be binary"):
        compute_metrics(prob, gt * 255, "drive")
    with pytest.raises(ValueError, match="prob must be a 2-D"):
        compute_metrics(prob[None], gt, "drive")
    with pytest.raises(ValueError, match=r"instances has shape \(8, 8\)"):
        compute_metrics(prob, gt, "glas", instances=np.ones((8, 8), int))
    with pytest.raises(ValueError, match="instances must hold non-negative"):
        compute_metrics(prob, gt, "glas", instances=-np.ones((16, 16), int))


def test_every_registered_dataset_has_a_metric_family():
    from data.registry import DATASETS

    families = {name: record.family for name, record in DATASETS.items()}
    assert set(families.values()) <= set(FAMILIES)
    assert families["synth-drive"] == families["drive"] == "drive"
    assert families["synth-glas"] == families["glas"] == "glas"
    assert families["isbi2012"] == families["snemi3d"] == families["synth-snemi3d"] == "em"


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (2, 3), (7, 5), (64, 48)])
def test_mask_edges_is_mask_xor_cross_erosion(shape):
    # MONAI's get_mask_edges: mask XOR binary_erosion with the cross, the outside being background.
    from metrics.distance import mask_edges

    rng = np.random.default_rng(sum(shape))
    for fraction in (0.3, 0.8, 1.0):
        mask = rng.random(shape) < fraction
        want = mask ^ ndimage.binary_erosion(mask)
        assert np.array_equal(mask_edges(mask), want)
        assert np.array_equal(mask_edges(mask.astype(np.uint8)), want)
