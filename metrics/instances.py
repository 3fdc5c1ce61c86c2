"""Instance metrics of nucleus segmentation: Aggregated Jaccard Index (AJI) and panoptic quality (PQ).

Both take instance label images (0 = background, ids any positive integers, not necessarily
consecutive) and read every overlap from one contingency table (:func:`metrics.contingency.contingency`).

- AJI: Kumar et al., "A dataset and a technique for generalized nuclear segmentation for
  computational pathology", IEEE TMI 36(7):1550-1560, 2017 (the MoNuSeg challenge metric),
  as the organisers' Matlab evaluation computes it. Several public ports differ; this one keeps:
  each ground-truth nucleus G takes the predicted nucleus S of highest IoU AMONG THOSE THAT
  OVERLAP IT (ties: smallest id); C += |G ∩ S|, U += |G ∪ S|. A G that no prediction overlaps adds
  |G| to U (it is NOT paired with an arbitrary prediction). A prediction may be the partner of
  several G (each pairing counts its union; AJI+ of Graham et al. 2019 forbids that, AJI does not).
  Every prediction that is nobody's partner adds its area to U. AJI = C / U.
- PQ: Kirillov et al., "Panoptic segmentation", CVPR 2019, for the single class "nucleus" (as in
  the MoNuSeg / HoVer-Net evaluations): pairs with IoU > 0.5 (unique by construction) are true
  positives; PQ = sum of their IoU / (TP + FP/2 + FN/2) = SQ x RQ.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_label_image, check_same_shape
from .contingency import contingency

#: IoU above which a (gt, prediction) pair is a PQ match (Kirillov et al. 2019: makes pairs unique).
PQ_MATCH_IOU = 0.5


def _pairs(pred: np.ndarray, gt: np.ndarray):
    """Overlapping (gt id, pred id, |G ∩ S|, IoU) arrays and the per-id areas of both maps."""
    g = as_label_image(gt, "gt")
    s = as_label_image(pred, "pred")
    check_same_shape(s, g, "pred", "gt")
    table = contingency(g, s)
    both = (table.rows > 0) & (table.cols > 0)
    rows, cols, inter = table.rows[both], table.cols[both], table.counts[both]
    area_g = np.bincount(g.ravel())
    area_s = np.bincount(s.ravel())
    iou = inter / (area_g[rows] + area_s[cols] - inter)
    return rows, cols, inter, iou, area_g, area_s


def _ids(area: np.ndarray) -> np.ndarray:
    """Labels > 0 present in a map, from its bincount."""
    ids = np.flatnonzero(area)
    return ids[ids > 0]


def aggregated_jaccard_index(pred, gt) -> float:
    """AJI of instance maps ``pred`` and ``gt`` (module docstring); NaN when both have no instance,
    0 when exactly one has none.

    Raises:
        ValueError: shapes differ, negative or non-integer labels, not 2-D.
    """
    rows, cols, inter, iou, area_g, area_s = _pairs(pred, gt)
    ids_g, ids_s = _ids(area_g), _ids(area_s)
    if ids_g.size == 0 and ids_s.size == 0:
        return float("nan")
    # best partner per gt: sort by gt, then IoU descending, then pred id ascending; take the first
    order = np.lexsort((cols, -iou, rows))
    rows, cols, inter = rows[order], cols[order], inter[order]
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else np.zeros(0, np.int64)
    best_g, best_s, best_inter = rows[first], cols[first], inter[first]
    c = int(best_inter.sum())
    u = int((area_g[best_g] + area_s[best_s] - best_inter).sum())
    u += int(area_g[np.setdiff1d(ids_g, best_g)].sum())  # gt nuclei no prediction overlaps
    u += int(area_s[np.setdiff1d(ids_s, best_s)].sum())  # predictions that are nobody's partner
    return c / u


def panoptic_quality(pred, gt, match_iou: float = PQ_MATCH_IOU) -> tuple[float, float, float]:
    """(PQ, SQ, RQ) of instance maps ``pred`` and ``gt`` (Kirillov et al. 2019, one class).

    SQ = mean IoU of the matches (0 when there is none), RQ = TP / (TP + FP/2 + FN/2); all three
    NaN when both maps have no instance. ``match_iou`` must be >= 0.5 (below it pairs are not
    unique and would need an assignment).

    Raises:
        ValueError: ``match_iou`` outside [0.5, 1), shapes differ, bad labels.
    """
    if not 0.5 <= match_iou < 1.0:
        raise ValueError(f"match_iou must be in [0.5, 1) so that matches are unique, got {match_iou}")
    _, _, _, iou, area_g, area_s = _pairs(pred, gt)
    n_g, n_s = _ids(area_g).size, _ids(area_s).size
    if n_g == 0 and n_s == 0:
        return float("nan"), float("nan"), float("nan")
    matched = iou[iou > match_iou]
    tp = matched.size
    fp, fn = n_s - tp, n_g - tp
    sq = float(matched.mean()) if tp else 0.0
    rq = tp / (tp + 0.5 * fp + 0.5 * fn)
    return sq * rq, sq, rq


def instance_metrics(pred, gt) -> dict[str, float]:
    """``{"aji", "pq"}`` of one image's predicted and ground-truth nucleus instances."""
    return {"aji": aggregated_jaccard_index(pred, gt), "pq": panoptic_quality(pred, gt)[0]}
