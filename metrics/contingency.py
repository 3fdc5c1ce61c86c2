"""Contingency tables of two label images and the class-0 region labelling of docs/METHOD.md §7.

Every label-based metric of the package (VI, ARI, adapted Rand error, GlaS object matching) reads
the overlap counts n_ij = |{x : a(x) = i, b(x) = j}| from :func:`contingency`, which uses
``np.bincount`` on a joint index instead of a sparse matrix or pairwise loops.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

#: 4-connectivity (``connectivity=1`` in scikit-image): the paper's region labelling.
FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)
#: 8-connectivity (``connectivity=2`` in scikit-image).
EIGHT_CONNECTED = ndimage.generate_binary_structure(2, 2)

# A dense bincount over n_a·n_b cells is used while it stays within this many cells per pixel;
# beyond it (thousands of labels on both sides) the joint index is sorted with np.unique instead.
_DENSE_CELLS_PER_PIXEL = 4


class Table(NamedTuple):
    """Non-zero cells of a contingency table: ``counts[k]`` pixels have labels ``(rows[k], cols[k])``.

    All three are 1-D int64 arrays of the same length, sorted by (row, col).
    """

    rows: np.ndarray
    cols: np.ndarray
    counts: np.ndarray


def contingency(a: np.ndarray, b: np.ndarray) -> Table:
    """Contingency table of two non-negative integer label images of the same shape.

    Args:
        a, b: int label images, any equal shape (flattened).

    Returns:
        :class:`Table` of the non-zero cells n_ij (i from ``a``, j from ``b``).
    """
    a = np.asarray(a, dtype=np.int64).ravel()
    b = np.asarray(b, dtype=np.int64).ravel()
    if a.size == 0:
        empty = np.zeros(0, np.int64)
        return Table(empty, empty, empty)
    n_b = int(b.max()) + 1
    n_cells = (int(a.max()) + 1) * n_b
    joint = a * n_b + b
    if n_cells <= _DENSE_CELLS_PER_PIXEL * a.size:
        counts = np.bincount(joint, minlength=n_cells)
        keys = np.flatnonzero(counts)
        counts = counts[keys]
    else:
        keys, counts = np.unique(joint, return_counts=True)
    return Table(keys // n_b, keys % n_b, counts.astype(np.int64))


def label_class0(mask: np.ndarray) -> np.ndarray:
    """4-connected components of the class-0 pixels; class-1 pixels get label 0.

    The partition equals ``skimage.measure.label(mask, background=1, connectivity=1)`` of the
    paper's metrics (docs/METHOD.md §7, docs/BASELINES.md §4.1); ids may be numbered differently,
    which no metric here depends on.

    Args:
        mask: bool (H, W), True = class 1.

    Returns:
        int64 (H, W) labels 0..K.
    """
    labels, _ = ndimage.label(~mask, structure=FOUR_CONNECTED)
    return labels.astype(np.int64, copy=False)


def label_class1(mask: np.ndarray) -> np.ndarray:
    """4-connected components of the class-1 pixels (predicted nuclei of MoNuSeg); class 0 gets label 0.

    Args:
        mask: bool (H, W), True = class 1.

    Returns:
        int64 (H, W) labels 0..K.
    """
    labels, _ = ndimage.label(mask, structure=FOUR_CONNECTED)
    return labels.astype(np.int64, copy=False)


def count_components(mask: np.ndarray, structure: np.ndarray) -> int:
    """Number of connected components of the True pixels of ``mask`` under ``structure``."""
    return int(ndimage.label(mask, structure=structure)[1])
