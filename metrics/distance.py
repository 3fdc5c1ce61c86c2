"""Point-set distances between binary masks through Euclidean distance transforms.

The nearest-neighbour distances that Hausdorff-type metrics need are read from
``scipy.ndimage.distance_transform_edt`` (exact Euclidean, O(H·W)) instead of all pairwise
distances. Transforms run on the bounding box of the union of both sets only: every pixel of the
target set lies inside that box, so each distance equals the whole-image one exactly. Every
distance is the float64 square root of an integer squared distance (as are the direct and k-d tree
distances of metrics/objects.py), so equal distances are bit-identical whichever code computed
them. Pixel spacing is 1; distances are in pixels.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy import ndimage


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

    Holds one distance transform per mask on the union bounding box, computed once and shared
    by the modified Hausdorff distance (all pixels) and HD95 (edge pixels). Each transform is
    the distance to the mask's *edge* pixels: outside a mask that equals the distance to the
    mask itself (see :func:`mask_edges`), and inside it is what HD95 needs, so the distance to
    the mask is the same map with 0 on the mask and no third transform or tree lookup is needed.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray):
        if not (a.any() and b.any()):
            raise ValueError("PairDistances needs two non-empty masks; handle empty masks before")
        box = union_box(a, b)
        self.a, self.b = a[box], b[box]

    @cached_property
    def to_a_edges(self) -> np.ndarray:
        """float64 crop-sized map: distance to the nearest edge pixel of ``a``."""
        return ndimage.distance_transform_edt(~mask_edges(self.a))

    @cached_property
    def to_b_edges(self) -> np.ndarray:
        """float64 crop-sized map: distance to the nearest edge pixel of ``b``."""
        return ndimage.distance_transform_edt(~mask_edges(self.b))

    def a_to_b(self) -> np.ndarray:
        """(|a|,) distance of each ``a`` pixel to ``b`` (0 on ``b``), in row-major pixel order."""
        return np.where(self.b, 0.0, self.to_b_edges)[self.a]

    def b_to_a(self) -> np.ndarray:
        """(|b|,) distance of each ``b`` pixel to ``a`` (0 on ``a``), in row-major pixel order."""
        return np.where(self.a, 0.0, self.to_a_edges)[self.b]

    def edges_a_to_b(self) -> np.ndarray:
        """Distance of each edge pixel of ``a`` to the nearest edge pixel of ``b``."""
        return self.to_b_edges[mask_edges(self.a)]

    def edges_b_to_a(self) -> np.ndarray:
        """Distance of each edge pixel of ``b`` to the nearest edge pixel of ``a``."""
        return self.to_a_edges[mask_edges(self.b)]
