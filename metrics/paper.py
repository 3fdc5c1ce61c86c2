"""The paper's metrics exactly as the authors' ``model/metrics.py`` and ``eval.py`` computed them.

docs/METHOD.md §7 and docs/BASELINES.md §4.1. Inputs are binary ``(H, W)`` masks ``pred`` and ``gt``
(bool, int or float with values {0, 1}; 1 = class 1). The values equal the paper-time code's
(golden values in ../shared/reference/golden.npz) but are computed from pixel counts and a
``np.bincount`` contingency table instead of scikit-image / scikit-learn calls, and the modified
Hausdorff distance from distance transforms instead of k-d trees.
"""

from __future__ import annotations

import numpy as np

from ._checks import binary_pair
from .connectomics import ari_from_table, vi_from_table
from .contingency import Table, contingency, label_class0
from .distance import PairDistances, empty_pair_distance

#: The value the paper's code returns for VI when scikit-image gives NaN (no ground-truth class-0 pixel).
VI_NAN_VALUE = 10.0


def _per_class_overlap(pred: np.ndarray, gt: np.ndarray) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """((|P1∩G1|, |P1|, |G1|), (|P0∩G0|, |P0|, |G0|)) as Python ints, for bool masks."""
    n = pred.size
    n_p1 = int(np.count_nonzero(pred))
    n_g1 = int(np.count_nonzero(gt))
    tp = int(np.count_nonzero(pred & gt))
    tn = n - n_p1 - n_g1 + tp
    return (tp, n_p1, n_g1), (tn, n - n_p1, n - n_g1)


def _ratio(numerator: int, denominator: int) -> float:
    # 0/0 (class absent from both maps) is NaN, as the paper's numpy code gives; no warning.
    return numerator / denominator if denominator else float("nan")


def _miou(pred: np.ndarray, gt: np.ndarray) -> float:
    ious = [_ratio(inter, n_p + n_g - inter) for inter, n_p, n_g in _per_class_overlap(pred, gt)]
    return (ious[0] + ious[1]) / 2


def _mdice(pred: np.ndarray, gt: np.ndarray) -> float:
    dices = [_ratio(2 * inter, n_p + n_g) for inter, n_p, n_g in _per_class_overlap(pred, gt)]
    return (dices[0] + dices[1]) / 2


def miou(pred, gt) -> float:
    """Mean IoU over classes {0, 1}: ½ Σ_c |P_c∩G_c| / |P_c∪G_c| (docs/METHOD.md §7).

    The authors' function returns −mIoU; this is the positive value their table reports.
    A class absent from both maps gives 0/0, so the result is **NaN** (the paper-time value);
    for a non-empty image this happens only when pred and gt are both all-0 or both all-1.

    Args:
        pred, gt: binary (H, W).

    Returns:
        float in [0, 1], or NaN as above.
    """
    return _miou(*binary_pair(pred, gt))


def mdice(pred, gt) -> float:
    """Mean Dice over classes {0, 1}: ½ Σ_c 2|P_c∩G_c| / (|P_c|+|G_c|) (docs/METHOD.md §7).

    NaN when a class is absent from both maps (paper-time value), as for :func:`miou`.
    """
    return _mdice(*binary_pair(pred, gt))


def region_table(pred: np.ndarray, gt: np.ndarray) -> Table:
    """Contingency table of the gt (rows) and pred (columns) class-0 region labellings.

    Labels are 4-connected components of class 0 (``label(mask, background=1, connectivity=1)``);
    class-1 pixels are label 0 on both sides. Input: bool (H, W) masks.
    """
    return contingency(label_class0(gt), label_class0(pred))


def _split_merge(table: Table) -> tuple[float, float]:
    # ignore_labels=[0] applies to the first argument of scikit-image's call, the ground truth, only:
    # predicted label 0 (predicted class 1 inside a gt cell) stays one big segment (repo behaviour).
    gt_counted = table.rows != 0
    return vi_from_table(Table(table.rows[gt_counted], table.cols[gt_counted], table.counts[gt_counted]))


def _vi_total(split: float, merge: float) -> float:
    total = split + merge
    # Repo quirk, reproduced: a NaN VI (no gt class-0 pixel) is replaced by 10.
    return VI_NAN_VALUE if np.isnan(total) else total


def vi_split_merge(pred, gt) -> tuple[float, float]:
    """(split, merge) parts of the paper's VI, in bits (docs/BASELINES.md §4.1).

    ``skimage.metrics.variation_of_information(G_lab, P_lab, ignore_labels=[0])`` with G_lab, P_lab
    the class-0 region labellings of gt and pred: split = H(P_lab|G_lab) (false splits),
    merge = H(G_lab|P_lab) (false merges). The repo names them the other way round
    (``merger_error, split_error``) and only uses the sum.

    Returns:
        (split, merge); (NaN, NaN) when gt has no class-0 pixel (nothing left after ignoring label 0).
    """
    p, g = binary_pair(pred, gt)
    return _split_merge(region_table(p, g))


def vi(pred, gt) -> float:
    """The paper's variation of information: split + merge of :func:`vi_split_merge`, NaN → 10.

    Returns:
        VI in bits ≥ 0; exactly 10.0 when gt has no class-0 pixel (the repo's NaN replacement).
    """
    return _vi_total(*vi_split_merge(pred, gt))


def ari(pred, gt) -> float:
    """Adjusted Rand index of the flattened class-0 region labellings, label 0 included as a cluster.

    Equals ``sklearn.metrics.adjusted_rand_score(P_lab.ravel(), G_lab.ravel())`` (docs/METHOD.md §7);
    1.0 when both labellings are the same partition (e.g. both masks all-1: a single cluster).

    Returns:
        ARI in [-1, 1] (never NaN for a non-empty image).
    """
    p, g = binary_pair(pred, gt)
    return ari_from_table(region_table(p, g))


def _mhd(pred: np.ndarray, gt: np.ndarray, pair: PairDistances | None = None) -> float:
    """MHD of validated bool masks; ``pair`` = ``PairDistances(pred, gt)`` when already built."""
    empty = empty_pair_distance(pred, gt)
    if empty is not None:
        return empty
    pair = pair if pair is not None else PairDistances(pred, gt)
    return float(max(np.mean(pair.b_to_a()), np.mean(pair.a_to_b())))


def mhd(pred, gt) -> float:
    """Modified Hausdorff distance (Dubuisson & Jain 1994) over all class-1 pixels, in pixels.

    ``skimage.metrics.hausdorff_distance(pred, gt, method='modified')`` as the authors' ``eval.py``
    called it (docs/BASELINES.md §4.1): max(mean_{a∈P} min_{b∈G} ‖a−b‖, mean_{b∈G} min_{a∈P} ‖a−b‖).

    Returns:
        float ≥ 0; 0.0 when both masks are empty, ``inf`` when exactly one is (documented, not NaN).
    """
    return _mhd(*binary_pair(pred, gt))


def paper_metrics(pred: np.ndarray, gt: np.ndarray, pair: PairDistances | None = None) -> dict[str, float]:
    """All paper metrics of one validated bool pair, sharing one region labelling.

    ``pair``: ``PairDistances(pred, gt)`` when the caller shares it with other distance metrics.

    Returns:
        {"miou", "mdice", "vi", "vi_split", "vi_merge", "ari", "mhd"} with the definitions above.
    """
    table = region_table(pred, gt)
    split, merge = _split_merge(table)
    return {
        "miou": _miou(pred, gt),
        "mdice": _mdice(pred, gt),
        "vi": _vi_total(split, merge),
        "vi_split": split,
        "vi_merge": merge,
        "ari": ari_from_table(table),
        "mhd": _mhd(pred, gt, pair),
    }
