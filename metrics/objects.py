"""GlaS challenge object-level metrics: detection F1, object Dice, object Hausdorff.

Definitions of the official Matlab evaluation (``evaluation_v6``: ``F1score.m``, ``ObjectDice.m``,
``ObjectHausdorff.m``; Sirinukunwattana et al. 2017, Med. Image Anal. 35:489) as summarised in
docs/BASELINES.md §4.4, on instance label images S (segmentation) and G (ground truth), 0 = none.

Matching: the partner of an object X of one map is the label of the other map that covers most of
X's pixels **after deleting the zeros** (Matlab ``mode`` of the non-zero overlapping labels; a tie
goes to the smallest label, as Matlab's ``mode``/``max`` do). The widely copied Python port takes the
mode with the zeros included; that is not what the challenge computed.

The challenge ranks testA (60 images) and testB (20 images) separately: these functions score one
image; group the per-image rows by the sample id's prefix to report each part.
"""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ._checks import as_label_image, check_same_shape
from .contingency import contingency
from .distance import mask_edges

#: Detection criterion of the challenge: a matched segmented object covers > 50% of its gt object.
DETECTION_OVERLAP = 0.5
#: Up to this many (query, edge pixel) pairs nearest distances are computed directly, not by k-d tree.
_BRUTE_FORCE_PAIRS = 4096


class Matching(NamedTuple):
    """Objects of one map and their majority partners in the other map.

    ``ids`` (K,) object labels; ``sizes`` (K,) pixel counts; ``partner`` (K,) partner label or 0
    when the object touches no object of the other map; ``overlap`` (K,) |X ∩ partner|.
    """

    ids: np.ndarray
    sizes: np.ndarray
    partner: np.ndarray
    overlap: np.ndarray


def _majority_partners(table_rows, table_cols, table_counts, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Partner label and overlap per row id 0..n_rows-1 from the non-zero cells (zeros already removed)."""
    partner = np.zeros(n_rows, np.int64)
    overlap = np.zeros(n_rows, np.int64)
    # Sort by row, then count descending, then column ascending: the first cell of each row is
    # its majority label with Matlab's smallest-label tie-break.
    order = np.lexsort((table_cols, -table_counts, table_rows))
    rows = table_rows[order]
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else np.zeros(0, np.int64)
    partner[rows[first]] = table_cols[order][first]
    overlap[rows[first]] = table_counts[order][first]
    return partner, overlap


def match_objects(seg: np.ndarray, gt: np.ndarray) -> tuple[Matching, Matching]:
    """Majority matching in both directions (segmented → gt, gt → segmented).

    Args:
        seg, gt: int64 (H, W) instance labels, 0 = background.

    Returns:
        (segmented objects with their gt partners, gt objects with their segmented partners).
    """
    table = contingency(seg, gt)
    both = (table.rows > 0) & (table.cols > 0)  # zeros removed before the majority vote
    rows, cols, counts = table.rows[both], table.cols[both], table.counts[both]
    sizes_s = np.bincount(seg.ravel())
    sizes_g = np.bincount(gt.ravel())
    partner_s, overlap_s = _majority_partners(rows, cols, counts, sizes_s.size)
    partner_g, overlap_g = _majority_partners(cols, rows, counts, sizes_g.size)
    ids_s = np.flatnonzero(sizes_s)
    ids_g = np.flatnonzero(sizes_g)
    ids_s, ids_g = ids_s[ids_s > 0], ids_g[ids_g > 0]
    return (
        Matching(ids_s, sizes_s[ids_s], partner_s[ids_s], overlap_s[ids_s]),
        Matching(ids_g, sizes_g[ids_g], partner_g[ids_g], overlap_g[ids_g]),
    )


def _f1(seg_side: Matching, gt_sizes: np.ndarray, n_gt: int) -> float:
    n_seg = seg_side.ids.size
    if n_seg == 0 and n_gt == 0:
        return 1.0
    matched = seg_side.partner > 0
    tp = int(
        np.count_nonzero(seg_side.overlap[matched] / gt_sizes[seg_side.partner[matched]] > DETECTION_OVERLAP)
    )
    if tp == 0:
        # Also covers exactly one map empty. Matlab gives 0/0 = NaN when nothing is detected;
        # the limit (precision = recall = 0) is reported instead.
        return 0.0
    precision = tp / n_seg
    recall = tp / n_gt
    return 2 * precision * recall / (precision + recall)


def _weighted_dice(side: Matching, other_sizes: np.ndarray) -> float:
    # Dice(X, partner) = 2|X ∩ P| / (|X| + |P|); an object without partner scores 0 (empty partner).
    partner_sizes = np.where(side.partner > 0, other_sizes[side.partner], 0)
    dices = 2 * side.overlap / (side.sizes + partner_sizes)
    return float(np.sum(side.sizes / side.sizes.sum() * dices))


class _ObjectPoints:
    """Pixel coordinates of one object, a k-d tree of its edge pixels and a bounding circle."""

    def __init__(self, labels: np.ndarray, label: int, box: tuple[slice, slice]):
        crop = labels[box] == label
        offset = np.array([box[0].start, box[1].start])
        self.label = label
        self.points = np.argwhere(crop) + offset
        # For a pixel outside the object its nearest object pixel is an edge pixel (mask_edges).
        self.edges = np.argwhere(mask_edges(crop)) + offset
        self.center = self.points.mean(axis=0)
        # Pixels sorted by decreasing distance to the centre (pruning in _directed_hausdorff).
        to_center = np.sqrt(np.sum((self.points - self.center) ** 2, axis=1))
        order = np.argsort(-to_center, kind="stable")
        self.by_radius, self.radii_desc = self.points[order], to_center[order]
        self.radius = float(self.radii_desc[0])
        # Bounding-box edges (first row, last row, first col, last col) for the lower bound below.
        self.box_edges = np.array([box[0].start, box[0].stop - 1, box[1].start, box[1].stop - 1])

    @cached_property
    def edge_tree(self) -> cKDTree:
        return cKDTree(self.edges)

    def farthest_from_edges(self, queries: np.ndarray) -> float:
        """max over the (M, 2) ``queries`` of the distance to the nearest edge pixel (M ≥ 1).

        Few pairs: one (M, E) array of squared distances (a k-d tree query costs ~0.1 ms however
        small; most objects of a noisy prediction are a few pixels). Both routes take the float64
        square root of the same integer, so they agree bit for bit.
        """
        if queries.shape[0] * self.edges.shape[0] <= _BRUTE_FORCE_PAIRS:
            squared = (queries[:, 0, None] - self.edges[None, :, 0]) ** 2 + (
                queries[:, 1, None] - self.edges[None, :, 1]
            ) ** 2
            return float(np.sqrt(squared.min(axis=1).max()))
        return float(self.edge_tree.query(queries)[0].max())


class _ObjectSet:
    """Lazily built :class:`_ObjectPoints` of the objects of one label image."""

    def __init__(self, labels: np.ndarray):
        self.labels = labels
        self.boxes = [None, *ndimage.find_objects(labels)]
        self._cache: dict[int, _ObjectPoints] = {}

    def __getitem__(self, label: int) -> _ObjectPoints:
        if label not in self._cache:
            self._cache[label] = _ObjectPoints(self.labels, label, self.boxes[label])
        return self._cache[label]

    def box_edges(self, ids: np.ndarray) -> np.ndarray:
        """(K, 4) bounding-box edges of the objects ``ids``."""
        return np.array(
            [[b[0].start, b[0].stop - 1, b[1].start, b[1].stop - 1] for b in (self.boxes[i] for i in ids)]
        )


def _directed_hausdorff(a: _ObjectPoints, b: _ObjectPoints, b_labels: np.ndarray | None) -> float:
    """max over pixels x of ``a`` of the distance from x to the nearest pixel of ``b`` (exact).

    Pixels of ``a`` inside ``b`` are at distance 0 (``b_labels`` = the label image of ``b``'s map;
    None when the two objects are known to be disjoint); the others are looked up in ``b``'s edge
    tree. Only candidates that can be the farthest are looked up: with c, r the centre and radius
    of ``b``'s bounding circle, dist(x, b) lies in [|x−c| − r, |x−c| + r], so the maximum is at
    least F − r with F = max |x−c|, and pixels with |x−c| < F − 2r cannot reach it.
    """
    if b_labels is None:
        # Disjoint: F is reached at an edge pixel of a (see _farthest_bound), and by the triangle
        # inequality only pixels with |x − c_a| ≥ F − 2r − |c_a − c| can be candidates: a prefix
        # of a's pixels sorted by decreasing distance to their own centre.
        reach = np.sqrt(np.max(np.sum((a.edges - b.center) ** 2, axis=1))) - 2 * b.radius
        floor = reach - np.sqrt(np.sum((a.center - b.center) ** 2)) - 1e-9
        outside = a.by_radius[: np.searchsorted(-a.radii_desc, -floor, side="right")]
    else:
        outside = a.points[b_labels[a.points[:, 0], a.points[:, 1]] != b.label]
    if outside.size == 0:
        return 0.0
    offsets = outside - b.center
    squared = np.einsum("ij,ij->i", offsets, offsets)
    threshold = np.sqrt(squared.max()) - 2 * b.radius - 1e-9
    candidates = outside[squared >= threshold**2] if threshold > 0 else outside
    return b.farthest_from_edges(candidates)


def _hausdorff(x: _ObjectPoints, y: _ObjectPoints, x_labels, y_labels) -> float:
    """HD of two objects; label images None when the objects are known to be disjoint."""
    return max(_directed_hausdorff(x, y, y_labels), _directed_hausdorff(y, x, x_labels))


def _weighted_hausdorff(
    side: Matching,
    objects_x: _ObjectSet,
    objects_y: _ObjectSet,
    ids_y: np.ndarray,
    matched: dict[tuple[int, int], float],
    x_is_seg: bool,
) -> float:
    """Σ_x |X|/Σ|X| · HD(X, partner(X)) over the objects of one map.

    ``matched`` caches the HD of overlapping (segmented label, gt label) pairs: mutual majority
    partners are scored from both sides, and the HD of two large objects is the costly part.
    """
    total = 0.0
    weights = side.sizes / side.sizes.sum()
    boxes_y = objects_y.box_edges(ids_y)
    for obj, weight, partner in zip(side.ids, weights, side.partner):
        x = objects_x[obj]
        if partner > 0:
            key = (int(obj), int(partner)) if x_is_seg else (int(partner), int(obj))
            if key not in matched:
                matched[key] = _hausdorff(x, objects_y[partner], objects_x.labels, objects_y.labels)
            d = matched[key]
        else:
            d = _nearest_object_hausdorff(x, objects_x, objects_y, ids_y, boxes_y)
        total += weight * d
    return total


def _farthest_bound(y: _ObjectPoints, x: _ObjectPoints) -> float:
    """A lower bound of the directed distance y → x: F − r, with F the largest distance from the
    centre of x's bounding circle to a pixel of y (always an edge pixel of y: a step further out
    along the larger offset axis would otherwise stay in y) and r that circle's radius."""
    return float(np.sqrt(np.max(np.sum((y.edges - x.center) ** 2, axis=1)))) - x.radius


def _nearest_object_hausdorff(x: _ObjectPoints, objects_x, objects_y, ids_y, boxes_y) -> float:
    """min over objects y of the other map of HD(x, y): the partner rule for non-overlapping objects.

    Candidates are visited by increasing lower bound and the search stops once the bound reaches
    the best distance found (only the distance is needed, so which of two tied partners wins is
    immaterial). Bounds: the extreme pixel of one set along an axis is at least the difference of
    the two bounding boxes' edges away from every pixel of the other set, so HD ≥ max |box edge
    difference|; and HD ≥ each directed distance ≥ :func:`_farthest_bound`.
    """
    box_bounds = np.abs(boxes_y - x.box_edges).max(axis=1)
    best = np.inf
    for k in np.argsort(box_bounds, kind="stable"):
        if box_bounds[k] >= best:
            break
        y = objects_y[ids_y[k]]
        if max(_farthest_bound(y, x), _farthest_bound(x, y)) >= best:
            continue
        # x overlaps no object of the other map: no membership test needed.
        best = min(best, _hausdorff(x, y, None, None))
    return float(best)


def _labels_pair(seg_labels, gt_labels) -> tuple[np.ndarray, np.ndarray]:
    s = as_label_image(seg_labels, "seg_labels")
    g = as_label_image(gt_labels, "gt_labels")
    check_same_shape(s, g, "seg_labels", "gt_labels")
    return s, g


def object_metrics(seg_labels, gt_labels) -> dict[str, float]:
    """GlaS object-level F1, Dice and Hausdorff of one image (docs/BASELINES.md §4.4).

    - ``obj_f1``: a segmented object S_i is a true positive when its majority gt partner G_j
      satisfies |S_i∩G_j|/|G_j| > 0.5; FP = other segmented objects; FN = #G − TP;
      F1 = 2PR/(P+R). 1 when both maps are empty; 0 when no object is detected (this includes
      exactly one map empty; the Matlab code gives NaN when both maps are non-empty and TP = 0).
    - ``obj_dice``: ½[Σ_i |S_i|/Σ|S|·Dice(S_i, G*(S_i)) + Σ_j |G_j|/Σ|G|·Dice(G_j, S*(G_j))], with the
      majority partner or the empty set (Dice 0) when none overlaps. 1 both empty, 0 one empty.
    - ``obj_hd``: the same weighting of the Hausdorff distance (all pixels, Euclidean, in pixels);
      an object without overlapping partner is paired with the object of the other map at minimum
      Hausdorff distance. 0 when both maps are empty, ``inf`` when exactly one is (the Matlab code
      has no partner to choose there).

    Args:
        seg_labels, gt_labels: non-negative int (H, W) instance labels, 0 = background.
    """
    s, g = _labels_pair(seg_labels, gt_labels)
    seg_side, gt_side = match_objects(s, g)
    n_s, n_g = seg_side.ids.size, gt_side.ids.size
    sizes_s, sizes_g = np.bincount(s.ravel()), np.bincount(g.ravel())
    f1 = _f1(seg_side, sizes_g, n_g)
    if n_s == 0 or n_g == 0:
        both_empty = n_s == 0 and n_g == 0
        return {"obj_f1": f1, "obj_dice": float(both_empty), "obj_hd": 0.0 if both_empty else float("inf")}
    dice = 0.5 * (_weighted_dice(seg_side, sizes_g) + _weighted_dice(gt_side, sizes_s))
    objects_s, objects_g = _ObjectSet(s), _ObjectSet(g)
    matched: dict[tuple[int, int], float] = {}
    hd = 0.5 * (
        _weighted_hausdorff(seg_side, objects_s, objects_g, gt_side.ids, matched, x_is_seg=True)
        + _weighted_hausdorff(gt_side, objects_g, objects_s, seg_side.ids, matched, x_is_seg=False)
    )
    return {"obj_f1": f1, "obj_dice": dice, "obj_hd": hd}


def object_f1(seg_labels, gt_labels) -> float:
    """GlaS detection F1 (50% overlap) of one image; see :func:`object_metrics`."""
    s, g = _labels_pair(seg_labels, gt_labels)
    seg_side, gt_side = match_objects(s, g)
    return _f1(seg_side, np.bincount(g.ravel()), gt_side.ids.size)


def object_dice(seg_labels, gt_labels) -> float:
    """GlaS object Dice of one image; see :func:`object_metrics`."""
    return object_metrics(seg_labels, gt_labels)["obj_dice"]


def object_hausdorff(seg_labels, gt_labels) -> float:
    """GlaS object Hausdorff distance of one image, in pixels; see :func:`object_metrics`."""
    return object_metrics(seg_labels, gt_labels)["obj_hd"]
