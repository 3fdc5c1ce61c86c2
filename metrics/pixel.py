"""DRIVE pixel metrics inside the field of view: accuracy, sensitivity, specificity and ROC AUC.

docs/BASELINES.md §4.2 and §4.5 (DRIVE protocol: Staal et al. 2004, IEEE TMI 23:501): only
pixels inside the FOV mask count; accuracy, sensitivity (TPR) and specificity (TNR) use the
prediction thresholded at 0.5 (``prob > 0.5``, as everywhere in this project); AUC uses the
probabilities. Per image (macro); pooling over images is the evaluator's choice.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_binary_mask, as_probability, check_same_shape


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve in the Mann–Whitney form: P(s⁺ > s⁻) + ½·P(s⁺ = s⁻).

    Equals ``sklearn.metrics.roc_auc_score(labels, scores)`` (ties count ½). One sort, O(n log n).

    Args:
        scores: float (N,) scores; labels: bool (N,) with True = positive.

    Returns:
        AUC in [0, 1]; NaN when one class is absent (scikit-learn raises there).
    """
    n_pos = int(np.count_nonzero(labels))
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    positive = labels[order]
    # Group equal scores; within a group every positive beats the negatives of all lower groups
    # and ties with the negatives of its own group.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    pos_per_group = np.add.reduceat(positive.astype(np.int64), starts)
    neg_per_group = np.diff(np.r_[starts, labels.size]) - pos_per_group
    neg_below = np.cumsum(neg_per_group) - neg_per_group
    wins = np.dot(pos_per_group, neg_below) + 0.5 * np.dot(pos_per_group, neg_per_group)
    return float(wins / (n_pos * n_neg))


def fov_metrics(prob, gt, fov) -> dict[str, float]:
    """DRIVE metrics of one image restricted to the field of view.

    - ``fov_acc`` = (TP+TN)/N_fov, ``fov_sens`` = TP/(TP+FN), ``fov_spec`` = TN/(TN+FP), with
      TP… counted on ``prob > 0.5`` against ``gt`` over FOV pixels only;
    - ``fov_auc``: ROC AUC of ``prob`` against ``gt`` over FOV pixels (:func:`roc_auc`).

    Args:
        prob: float (H, W) class-1 (vessel) probability in [0, 1].
        gt: binary (H, W), 1 = vessel. fov: binary (H, W), 1 = inside the field of view.

    Returns:
        dict of the four values. NaN where undefined and only there: all four when the FOV is
        empty; ``fov_sens`` (and ``fov_auc``) with no vessel pixel in the FOV; ``fov_spec`` (and
        ``fov_auc``) with no background pixel in the FOV.
    """
    p = as_probability(prob, "prob")
    g = as_binary_mask(gt, "gt")
    f = as_binary_mask(fov, "fov")
    check_same_shape(p, g, "prob", "gt")
    check_same_shape(f, g, "fov", "gt")
    scores, labels = p[f], g[f]
    pred = scores > 0.5
    n = labels.size
    tp = int(np.count_nonzero(pred & labels))
    n_pred, n_pos = int(np.count_nonzero(pred)), int(np.count_nonzero(labels))
    tn = n - n_pred - n_pos + tp
    return {
        "fov_acc": _ratio(tp + tn, n),
        "fov_sens": _ratio(tp, n_pos),
        "fov_spec": _ratio(tn, n - n_pos),
        "fov_auc": roc_auc(scores, labels),
    }
