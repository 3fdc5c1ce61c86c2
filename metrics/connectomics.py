"""Label-image metrics of connectomics: variation of information, adjusted Rand index, adapted Rand error.

All three read the overlap counts n_ij of :func:`metrics.contingency.contingency`
(i = ground-truth label, j = predicted label); a_i = Σ_j n_ij, b_j = Σ_i n_ij.
References: docs/BASELINES.md §4.1 (the paper's VI and ARI) and §4.3 (SNEMI3D / CREMI).
"""

from __future__ import annotations

import numpy as np

from ._checks import as_label_image, check_same_shape
from .contingency import Table, contingency


def _label_pair(gt_labels, pred_labels) -> tuple[np.ndarray, np.ndarray]:
    g = as_label_image(gt_labels, "gt_labels")
    p = as_label_image(pred_labels, "pred_labels")
    check_same_shape(p, g, "pred_labels", "gt_labels")
    return g, p


def _drop_rows(table: Table, ignore_labels) -> Table:
    """Cells of ``table`` whose row (ground-truth label) is not in ``ignore_labels``."""
    keep = ~np.isin(table.rows, np.asarray(list(ignore_labels), dtype=np.int64))
    return Table(table.rows[keep], table.cols[keep], table.counts[keep])


def _unique_sums(ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Total count per distinct id (row or column sums of the table), in increasing id order."""
    return np.bincount(np.unique(ids, return_inverse=True)[1], weights=counts)


def _marginal(ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-cell marginal: the total count of the cell's row (or column) id, aligned with ``counts``."""
    inverse = np.unique(ids, return_inverse=True)[1]
    return np.bincount(inverse, weights=counts)[inverse]


def vi_from_table(table: Table) -> tuple[float, float]:
    """(split, merge) = (H(pred|gt), H(gt|pred)) in bits from the counted cells of a table.

    H(pred|gt) = −Σ_ij p_ij·log2(n_ij/a_i) and H(gt|pred) = −Σ_ij p_ij·log2(n_ij/b_j) with
    p_ij = n_ij/N over the counted cells (Meilă 2007). With no counted pixel both are NaN, as
    ``skimage.metrics.variation_of_information`` gives (its normalisation divides by zero).
    """
    n = table.counts.sum()
    if n == 0:
        return float("nan"), float("nan")
    counts = table.counts.astype(np.float64)
    p = counts / n
    a = _marginal(table.rows, counts)
    b = _marginal(table.cols, counts)
    split = -np.sum(p * np.log2(counts / a))
    merge = -np.sum(p * np.log2(counts / b))
    # -0.0 when every log is 0 (perfect match): report +0.0.
    return float(split) + 0.0, float(merge) + 0.0


def variation_of_information(gt_labels, pred_labels, ignore_labels=(0,)) -> tuple[float, float]:
    """Variation of information split and merge parts, in bits (Meilă 2007; docs/BASELINES.md §4.3).

    Mirrors ``skimage.metrics.variation_of_information(gt_labels, pred_labels, ignore_labels=...)``:
    pixels whose **ground-truth** label is in ``ignore_labels`` are dropped; predicted labels are
    all kept (a predicted 0 is an ordinary segment). Same as CREMI's ``voi(pred, gt, [0])``.

    Args:
        gt_labels, pred_labels: non-negative int label images, same 2-D shape.
        ignore_labels: ground-truth labels to exclude.

    Returns:
        (split, merge) = (H(pred|gt), H(gt|pred)); VI is their sum. (NaN, NaN) when every
        ground-truth pixel is ignored.
    """
    g, p = _label_pair(gt_labels, pred_labels)
    return vi_from_table(_drop_rows(contingency(g, p), ignore_labels))


def ari_from_table(table: Table) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985) from all cells of a table, as scikit-learn computes it.

    sklearn ≥ 1.0 (``adjusted_rand_score``) goes through the pair confusion matrix, with ordered
    pair counts tp = Σn_ij² − N, fp = Σb_j² − Σn_ij², fn = Σa_i² − Σn_ij², tn = N² − tp − fp − fn − N:
    ARI = 2(tp·tn − fn·fp) / ((tp+fn)(fn+tn) + (tp+fp)(fp+tn)), and 1.0 when fn = fp = 0
    (identical partitions, including a single cluster on both sides and an empty input).
    Python integers keep every product exact, as in scikit-learn.
    """
    counts = table.counts
    n = int(counts.sum())
    sum_nij2 = int(np.dot(counts, counts))
    a = _unique_sums(table.rows, counts).astype(np.int64)
    b = _unique_sums(table.cols, counts).astype(np.int64)
    sum_a2 = int(np.dot(a, a))
    sum_b2 = int(np.dot(b, b))
    tp = sum_nij2 - n
    fp = sum_b2 - sum_nij2
    fn = sum_a2 - sum_nij2
    tn = n * n - fp - fn - sum_nij2
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def adjusted_rand_index(labels_a, labels_b) -> float:
    """Adjusted Rand index of two label images over **all** pixels (no label ignored).

    Equals ``sklearn.metrics.adjusted_rand_score(labels_a.ravel(), labels_b.ravel())``; symmetric.
    """
    a, b = _label_pair(labels_a, labels_b)
    return ari_from_table(contingency(a, b))


def adapted_rand_error(gt_labels, pred_labels, convention: str = "snemi3d") -> float:
    """Adapted Rand error, 1 − F-score of Rand split/merge scores; ground-truth label 0 excluded.

    Two conventions exist (docs/BASELINES.md §4.3); do not mix them in one table:

    - ``"snemi3d"`` (SNEMI3D / CREMI ``cremi.evaluation.rand.adapted_rand``, from the SNEMI3D Matlab
      script): rows with ground-truth 0 dropped; **squared counts**; predicted-0 pixels are
      singletons, so with c = #pixels (gt ≠ 0, pred = 0) and N = all pixels (gt 0 included),
      Σ_AB = Σ_{i≥1,j≥1} n_ij² + c/N, Σ_B = Σ_{j≥1} b_j² + c/N, Σ_A = Σ_{i≥1} a_i²,
      P = Σ_AB/Σ_B, R = Σ_AB/Σ_A, ARE = 1 − 2PR/(P+R).
    - ``"skimage"`` (``skimage.metrics.adapted_rand_error(gt, pred)``, α = 0.5): **pair counts**
      Σ(n_ij² − n_ij) etc. over gt ≠ 0, predicted 0 an ordinary segment;
      ARE = 1 − Σ(n_ij²−n_ij) / (½Σ(a_i²−a_i) + ½Σ(b_j²−b_j)).

    Returns:
        ARE in [0, 1]; NaN when the ground truth has no non-zero label (no pair to score).
    """
    g, p = _label_pair(gt_labels, pred_labels)
    table = contingency(g, p)
    if convention == "snemi3d":
        return _are_snemi3d(table, n_all=g.size)
    if convention == "skimage":
        return _are_skimage(_drop_rows(table, (0,)))
    raise ValueError(f"convention must be 'snemi3d' or 'skimage', got {convention!r}")


def _are_snemi3d(table: Table, n_all: int) -> float:
    counted = table.rows > 0
    rows, cols, counts = table.rows[counted], table.cols[counted], table.counts[counted].astype(np.float64)
    if counts.size == 0:
        return float("nan")
    a = np.bincount(rows, weights=counts)
    seg = cols > 0
    b = np.bincount(cols[seg], weights=counts[seg])
    # Quirk of the SNEMI3D/CREMI script, reproduced: predicted-0 pixels count as singletons whose
    # contribution is their number divided by the total pixel count N (gt 0 included), not by 1.
    singletons = counts[~seg].sum() / n_all
    sum_a = np.dot(a, a)
    sum_b = np.dot(b, b) + singletons
    sum_ab = np.dot(counts[seg], counts[seg]) + singletons
    precision = sum_ab / sum_b
    recall = sum_ab / sum_a
    return float(1.0 - 2.0 * precision * recall / (precision + recall))


def _are_skimage(table: Table) -> float:
    counts = table.counts.astype(np.float64)
    if counts.size == 0:
        return float("nan")
    a = _unique_sums(table.rows, counts)
    b = _unique_sums(table.cols, counts)
    pairs_ab = np.dot(counts, counts) - counts.sum()
    pairs_a = np.dot(a, a) - a.sum()
    pairs_b = np.dot(b, b) - b.sum()
    denominator = 0.5 * pairs_a + 0.5 * pairs_b
    if denominator == 0:
        # All segments are single pixels on both sides: 0/0 in scikit-image; no pair to disagree on.
        return float("nan")
    return float(1.0 - pairs_ab / denominator)
