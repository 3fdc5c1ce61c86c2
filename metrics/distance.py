"""Point-set distances between binary masks through Euclidean distance transforms.

The nearest-neighbour distances that Hausdorff-type metrics need are read from
``scipy.ndimage.distance_transform_edt`` (exact Euclidean, O(H·W)) instead of all pairwise
distances. Transforms run on the bounding box of the union of both sets only: every pixel of the
target set lies inside that box, so each distance equals the whole-image one exactly. Every
distance is the float64 square root of an integer squared distance, whichever route computed it,
so all routes give bit-identical values. Pixel spacing is 1; distances are in pixels.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

# k-d tree lookups are used for the edge pixels inside the other mask while they number at most
# 1/_TREE_FRACTION of the crop's pixels; above that a third distance transform is cheaper.
_TREE_FRACTION = 32


def union_box(a: np.ndarray, b: np.ndarray) -> tuple[slice, slice] | None:
    """Bounding box (row and column slices) of ``a | b``; None when both are empty."""
    rows = np.flatnonzero(a.any(axis=1) | b.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(a.any(axis=0) | b.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def mask_edges(mask: np.ndarray) -> np.ndarray:
    """Edge pixels of a bool ``(H, W)`` mask: ``mask XOR binary_erosion(mask)`` (cross structuring
    element, outside of the image counts as background), as MONAI's ``get_mask_edges``.

    Every pixel of the mask that has a 4-neighbour outside it is an edge pixel, so for a pixel
    outside the mask its nearest mask pixel is always an edge pixel (a step towards the pixel
    along its larger offset axis would otherwise be closer and still in the mask).
    """
    # Four shifted ANDs instead of ndimage.binary_erosion: the same set (a pixel is interior when
    # it and its 4 neighbours are in the mask; border pixels never are), ~35x faster on 1024².
    mask = np.asarray(mask, dtype=bool)
    interior = np.zeros_like(mask)
    interior[1:-1, 1:-1] = (
        mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    )
    return mask & ~interior


def empty_pair_distance(pred: np.ndarray, gt: np.ndarray) -> float | None:
    """The Hausdorff-type distance of a pair with an empty mask: 0 when both are empty, ``inf`` when
    exactly one is (scikit-image's convention); None when both are non-empty (compute it)."""
    has_p, has_g = bool(pred.any()), bool(gt.any())
    if has_p and has_g:
        return None
    return float("inf") if (has_p or has_g) else 0.0


class PairDistances:
    """Nearest-pixel distances between two non-empty bool ``(H, W)`` masks ``a`` and ``b``.

    Holds the two distance transforms (distance to the nearest ``a`` pixel and to the nearest
    ``b`` pixel) on the union bounding box, computed once and shared by the modified Hausdorff
    distance (all pixels) and HD95 (edge pixels).
    """

    def __init__(self, a: np.ndarray, b: np.ndarray):
        if not (a.any() and b.any()):
            raise ValueError("PairDistances needs two non-empty masks; handle empty masks before")
        box = union_box(a, b)
        self.a, self.b = a[box], b[box]

    @cached_property
    def to_a(self) -> np.ndarray:
        """float64 crop-sized map: distance to the nearest pixel of ``a``."""
        return ndimage.distance_transform_edt(~self.a)

    @cached_property
    def to_b(self) -> np.ndarray:
        """float64 crop-sized map: distance to the nearest pixel of ``b``."""
        return ndimage.distance_transform_edt(~self.b)

    def a_to_b(self) -> np.ndarray:
        """(|a|,) distance of each ``a`` pixel to ``b``, in row-major pixel order."""
        return self.to_b[self.a]

    def b_to_a(self) -> np.ndarray:
        """(|b|,) distance of each ``b`` pixel to ``a``, in row-major pixel order."""
        return self.to_a[self.b]

    def edges_a_to_b(self) -> np.ndarray:
        """Distance of each edge pixel of ``a`` to the nearest edge pixel of ``b``."""
        return _edge_distances(mask_edges(self.a), self.b, self.to_b)

    def edges_b_to_a(self) -> np.ndarray:
        """Distance of each edge pixel of ``b`` to the nearest edge pixel of ``a``."""
        return _edge_distances(mask_edges(self.b), self.a, self.to_a)


def _edge_distances(source_edges: np.ndarray, target: np.ndarray, to_target: np.ndarray) -> np.ndarray:
    """Distances of the ``source_edges`` pixels to the edge pixels of ``target``.

    Outside ``target`` the distance to its edges equals the distance to ``target`` (see
    :func:`mask_edges`), read from the transform; the few source edge pixels inside ``target``
    are looked up in a k-d tree of the target's edge pixels.
    """
    distances = to_target[source_edges]
    inside = source_edges & target
    need = inside[source_edges]
    n_inside = int(np.count_nonzero(need))
    if n_inside * _TREE_FRACTION > target.size:
        # Many lookups (e.g. thin membranes that overlap): one more transform is cheaper.
        distances[need] = ndimage.distance_transform_edt(~mask_edges(target))[inside]
    elif n_inside:
        tree = cKDTree(np.argwhere(mask_edges(target)))
        distances[need] = tree.query(np.argwhere(inside))[0]
    return distances
