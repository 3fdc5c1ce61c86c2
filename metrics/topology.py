"""Metrics for thin structures and boundaries: clDice, Betti-number errors and HD95.

References: docs/BASELINES.md §4.5 (clDice, Betti errors) and §4.6 (HD95 conventions).
Inputs are bool ``(H, W)`` masks of the structure (class 1: DRIVE vessels, EM membranes).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from ._checks import binary_pair
from .contingency import EIGHT_CONNECTED, FOUR_CONNECTED, count_components
from .distance import PairDistances, empty_pair_distance

#: Percentile of the HD95 metric.
HD_PERCENTILE = 95


def _skeleton_coverage(volume: np.ndarray, skeleton: np.ndarray) -> float:
    """|volume ∩ skeleton| / |skeleton| for a non-empty skeleton."""
    return np.count_nonzero(volume & skeleton) / np.count_nonzero(skeleton)


def _cldice(pred: np.ndarray, gt: np.ndarray) -> float:
    has_p, has_g = bool(pred.any()), bool(gt.any())
    if not (has_p and has_g):
        return float(has_p == has_g)
    t_prec = _skeleton_coverage(gt, skeletonize(pred))
    t_sens = _skeleton_coverage(pred, skeletonize(gt))
    if t_prec + t_sens == 0:
        return 0.0
    return 2 * t_prec * t_sens / (t_prec + t_sens)


def cldice(pred, gt) -> float:
    """Centerline Dice (Shit et al., CVPR 2021; metric of ``jocpae/clDice`` ``cldice_metric``).

    clDice = 2·T_prec·T_sens/(T_prec+T_sens) with T_prec = |G ∩ skel(P)|/|skel(P)| (topology
    precision) and T_sens = |P ∩ skel(G)|/|skel(G)| (topology sensitivity); skeletons by
    ``skimage.morphology.skeletonize`` (Zhang–Suen for 2-D), as the official metric.

    Args:
        pred, gt: binary (H, W), 1 = the thin structure.

    Returns:
        clDice in [0, 1]; 1.0 when both masks are empty, 0.0 when exactly one is (defined here;
        the official code divides by zero) or when neither skeleton touches the other mask.
    """
    return _cldice(*binary_pair(pred, gt))


def betti_numbers(mask: np.ndarray) -> tuple[int, int]:
    """(β0, β1) of a bool (H, W) mask in the dual 8/4 convention.

    β0 = number of 8-connected foreground components; β1 = number of 4-connected background
    components that do not touch the image border (holes). The outer background is not a hole
    (the SPW repo's ``get_betti_own`` counts it too; only differences are reported here anyway).
    """
    beta0 = count_components(mask, EIGHT_CONNECTED)
    background, n_background = ndimage.label(~mask, structure=FOUR_CONNECTED)
    border = np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
    n_outer = np.count_nonzero(np.unique(border))
    return beta0, int(n_background - n_outer)


def _betti_errors(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int]:
    (p0, p1), (g0, g1) = betti_numbers(pred), betti_numbers(gt)
    return abs(p0 - g0), abs(p1 - g1)


def betti_errors(pred, gt) -> tuple[int, int]:
    """Betti-number errors (|β0(P) − β0(G)|, |β1(P) − β1(G)|) over the whole image.

    Conventions of :func:`betti_numbers` (8-connected foreground, 4-connected holes not touching
    the border). Whole image, not averaged over random patches as in Hu et al. 2019.
    """
    return _betti_errors(*binary_pair(pred, gt))


def _hd95(pred: np.ndarray, gt: np.ndarray, pair: PairDistances | None = None) -> float:
    """HD95 of validated bool masks; ``pair`` = ``PairDistances(pred, gt)`` when already built."""
    empty = empty_pair_distance(pred, gt)
    if empty is not None:
        return empty
    pair = pair if pair is not None else PairDistances(pred, gt)
    return float(
        max(
            np.percentile(pair.edges_a_to_b(), HD_PERCENTILE),
            np.percentile(pair.edges_b_to_a(), HD_PERCENTILE),
        )
    )


def hd95(pred, gt) -> float:
    """95th-percentile Hausdorff distance on boundary pixels, MONAI convention, in pixels.

    MONAI ``compute_hausdorff_distance(percentile=95, directed=False)``: edge pixels of each mask
    (:func:`metrics.distance.mask_edges`); for each edge pixel of one mask the Euclidean distance to the nearest
    edge pixel of the other; the 95th percentile (``np.percentile``, linear interpolation) of each
    directed set; the larger of the two. (medpy's ``hd95`` instead takes the percentile of the
    union of both sets: a different number.)

    Returns:
        float ≥ 0; 0.0 when both masks are empty and ``inf`` when exactly one is (MONAI gives
        NaN / inf with a warning there).
    """
    return _hd95(*binary_pair(pred, gt))
