"""AJI and PQ: hand-computed cases, the stated rules (unmatched gt, reused partners, never-chosen
predictions), an independent loop transcription of Kumar et al.'s algorithm, MONAI's PQ, and the
nuclei family of compute_metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metrics import compute_metrics
from metrics.instances import aggregated_jaccard_index, panoptic_quality


def _blank(shape=(6, 8)) -> np.ndarray:
    return np.zeros(shape, np.int64)


def test_perfect_match():
    gt = _blank()
    gt[0:2, 0:2], gt[3:5, 4:7] = 1, 2
    assert aggregated_jaccard_index(gt, gt) == 1.0
    assert panoptic_quality(gt, gt) == (1.0, 1.0, 1.0)


def test_split_nucleus():
    gt, pred = _blank(), _blank()
    gt[0:2, 0:2] = 1  # 4 px
    pred[0:2, 0:1], pred[0:2, 1:2] = 1, 2  # two halves, IoU 1/2 each: tie -> smaller id 1
    # C = 2, U = |G ∪ S1| = 4, plus the never-chosen S2 (2 px): 2 / 6
    assert aggregated_jaccard_index(pred, gt) == pytest.approx(1 / 3)
    # IoU 0.5 is not > 0.5: no match; TP 0, FP 2, FN 1
    assert panoptic_quality(pred, gt) == (0.0, 0.0, 0.0)


def test_merged_nuclei_reuse_the_partner():
    gt, pred = _blank(), _blank()
    gt[0:2, 0:2], gt[0:2, 2:4] = 1, 2
    pred[0:2, 0:4] = 7  # one prediction over both: each gt pairs with it (C 4+4, U 8+8)
    assert aggregated_jaccard_index(pred, gt) == pytest.approx(0.5)
    assert panoptic_quality(pred, gt)[0] == 0.0


def test_unmatched_gt_adds_its_area_only():
    gt, pred = _blank(), _blank()
    gt[0:2, 0:2], gt[4:6, 5:8] = 1, 2  # 4 px and 6 px
    pred[0:2, 0:2] = 1
    pred[4:6, 0:1] = 2  # 2 px overlapping no gt: never chosen
    # C = 4; U = 4 + |G2| (6, not paired with an arbitrary prediction) + |S2| (2)
    assert aggregated_jaccard_index(pred, gt) == pytest.approx(4 / 12)
    # TP 1 (IoU 1), FP 1, FN 1: PQ = 1 / (1 + 1/2 + 1/2)
    pq, sq, rq = panoptic_quality(pred, gt)
    assert (pq, sq, rq) == pytest.approx((0.5, 1.0, 0.5))


def test_partial_overlap_iou():
    gt, pred = _blank(), _blank()
    gt[0:3, 0:3] = 1  # 9 px
    pred[0:3, 1:4] = 1  # 9 px, 6 shared: IoU 6/12
    pred[5, 7] = 3
    assert aggregated_jaccard_index(pred, gt) == pytest.approx(6 / (12 + 1))
    gt[0:3, 3] = 1  # 12 px, pred inside it: IoU 9/12 > 0.5
    pq, sq, rq = panoptic_quality(pred, gt)
    assert sq == pytest.approx(0.75) and rq == pytest.approx(1 / 1.5) and pq == pytest.approx(0.5)


def test_empty_maps():
    empty, one = _blank(), _blank()
    one[1:3, 1:3] = 4
    assert math.isnan(aggregated_jaccard_index(empty, empty))
    assert all(math.isnan(v) for v in panoptic_quality(empty, empty))
    assert aggregated_jaccard_index(one, empty) == 0.0 and aggregated_jaccard_index(empty, one) == 0.0
    assert panoptic_quality(one, empty)[0] == 0.0


def test_label_values_do_not_matter():
    rng = np.random.default_rng(3)
    gt, pred = _random_instances(rng), _random_instances(rng)
    perm = np.r_[0, rng.permutation(np.arange(1, 200))]  # relabel ids without merging
    assert aggregated_jaccard_index(perm[pred], perm[gt] * 3) == pytest.approx(
        aggregated_jaccard_index(pred, gt)
    )
    assert panoptic_quality(perm[pred], gt) == pytest.approx(panoptic_quality(pred, gt))


def test_bad_input():
    with pytest.raises(ValueError, match="shape"):
        aggregated_jaccard_index(_blank((4, 4)), _blank((4, 5)))
    with pytest.raises(ValueError):
        panoptic_quality(_blank() - 1, _blank())
    with pytest.raises(ValueError, match="match_iou"):
        panoptic_quality(_blank(), _blank(), match_iou=0.3)


# ------------------------------------------------------------------- independent oracles


def _random_instances(rng, shape=(24, 24), n=8) -> np.ndarray:
    out = np.zeros(shape, np.int64)
    for k in range(1, n + 1):
        y, x = rng.integers(0, shape[0] - 3), rng.integers(0, shape[1] - 3)
        h, w = rng.integers(2, 7), rng.integers(2, 7)
        out[y : y + h, x : x + w] = k  # later boxes overwrite: touching and partly hidden nuclei
    return out


def _aji_loops(pred, gt) -> float:
    """Kumar et al. 2017 Algorithm 1, object by object, with the organisers' rule for a gt
    nucleus no prediction overlaps (its area joins the union)."""
    c = u = 0
    used = set()
    for g in [i for i in np.unique(gt) if i]:
        G = gt == g
        best, best_iou = None, 0.0
        for s in [j for j in np.unique(pred[G]) if j]:
            S = pred == s
            iou = (G & S).sum() / (G | S).sum()
            if iou > best_iou:  # ascending ids: ties keep the smaller id
                best, best_iou = s, iou
        if best is None:
            u += G.sum()
            continue
        S = pred == best
        c += (G & S).sum()
        u += (G | S).sum()
        used.add(best)
    for s in [j for j in np.unique(pred) if j and j not in used]:
        u += (pred == s).sum()
    return c / u


@pytest.mark.parametrize("seed", range(12))
def test_aji_equals_loop_transcription(seed):
    rng = np.random.default_rng(seed)
    gt, pred = _random_instances(rng), _random_instances(rng)
    assert aggregated_jaccard_index(pred, gt) == pytest.approx(_aji_loops(pred, gt), abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_pq_equals_monai(seed):
    torch = pytest.importorskip("torch")
    pytest.importorskip("monai", reason="monai (requirements-dev.txt) gives the reference PQ")
    from monai.metrics import compute_panoptic_quality

    rng = np.random.default_rng(100 + seed)
    gt = _random_instances(rng)
    pred = gt.copy()
    pred[rng.random(gt.shape) < 0.15] = 0  # eroded copy: many matches, a few lost
    pred[_random_instances(rng, n=3) > 0] = 50  # plus false positives / merges
    p, g = torch.from_numpy(pred), torch.from_numpy(gt)
    ours = panoptic_quality(pred, gt)
    for value, name in zip(ours, ("pq", "sq", "rq")):
        ref = float(compute_panoptic_quality(p, g, metric_name=name, smooth_numerator=0.0))
        assert value == pytest.approx(ref, abs=1e-6), name


# ------------------------------------------------------------------------ compute_metrics


def test_nuclei_family_columns():
    gt = np.zeros((16, 16), np.int64)
    gt[2:6, 2:6], gt[2:6, 6:10], gt[10:14, 10:14] = 1, 2, 3  # nuclei 1 and 2 touch
    prob = (gt > 0).astype(np.float64)  # a perfect semantic map merges the touching pair
    out = compute_metrics(prob, gt > 0, "nuclei", instances=gt)
    assert {"aji", "pq", "obj_f1", "obj_dice", "obj_hd"} <= set(out)
    assert out["miou"] == 1.0
    # predicted nuclei: {1+2} (32 px) and {3}; AJI: C = 16+16+16, U = 32+32+16
    assert out["aji"] == pytest.approx(48 / 80)
    # PQ: nucleus 3 matched (IoU 1); the merged blob has IoU 0.5 with each: TP 1, FP 1, FN 2
    assert out["pq"] == pytest.approx(1 / (1 + 0.5 + 1.0))
    assert "aji" not in compute_metrics(prob, gt > 0, "nuclei")  # no instances: no object metrics


def test_vessel_sets_get_drive_metrics():
    gt = np.zeros((12, 12), bool)
    gt[6, :] = True
    fov = np.ones_like(gt)
    from data.registry import DATASETS

    for name in ("chase_db1", "stare", "synth-stare"):
        out = compute_metrics(gt.astype(float), gt, DATASETS[name].family, fov=fov)
        assert out["fov_acc"] == 1.0 and out["cldice"] == 1.0 and out["betti0_err"] == 0
