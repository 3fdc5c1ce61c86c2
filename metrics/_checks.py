"""Input checks shared by every metric: binary 2-D masks, matching shapes, probabilities in [0, 1].

Checks run in O(H·W) without sorting (no ``np.unique``) so that validation stays a small part of the
1 s per 1024² image budget of issue 5. Every error is a ``ValueError`` that names the argument and
what was expected.
"""

from __future__ import annotations

import numpy as np


def as_binary_mask(x, name: str) -> np.ndarray:
    """Return ``x`` as a bool ``(H, W)`` array; ``x`` may be bool, int or float with values in {0, 1}.

    Raises:
        ValueError: ``x`` is not 2-D, or holds a value other than 0 and 1 (NaN included).
    """
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) mask, got shape {a.shape}")
    if a.dtype == bool:
        return a
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name} must be bool, integer or float with values {{0, 1}}, got dtype {a.dtype}")
    one = a == 1
    if not np.all(one | (a == 0)):
        bad = a[~(one | (a == 0))].ravel()[:3]
        raise ValueError(
            f"{name} must be binary with values {{0, 1}}; found e.g. {bad.tolist()} (shape {a.shape})"
        )
    return one


def as_label_image(x, name: str) -> np.ndarray:
    """Return ``x`` as an int64 ``(H, W)`` label image with non-negative integer ids.

    Raises:
        ValueError: not 2-D, not integer-valued, or negative ids.
    """
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) label image, got shape {a.shape}")
    if a.dtype == bool:
        return a.astype(np.int64)
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{name} must hold integer label ids, got non-integer floats (dtype {a.dtype})")
    elif not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer label image, got dtype {a.dtype}")
    a = a.astype(np.int64, copy=False)
    if a.size and a.min() < 0:
        raise ValueError(f"{name} must hold non-negative label ids, got minimum {a.min()}")
    return a


def as_probability(x, name: str) -> np.ndarray:
    """Return ``x`` as a float ``(H, W)`` array of probabilities in [0, 1] (NaN rejected)."""
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) probability map, got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise ValueError(f"{name} must be a float probability map, got dtype {a.dtype}")
    if a.size and not (np.all(a >= 0) and np.all(a <= 1)):
        raise ValueError(
            f"{name} must hold probabilities in [0, 1]; found range [{np.nanmin(a)}, {np.nanmax(a)}]"
            f"{' and NaN' if np.isnan(a).any() else ''} (shape {a.shape})"
        )
    return a


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` naming both arguments and shapes when ``a.shape != b.shape``."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}; they must match")


def binary_pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (pred, gt) pair of binary masks and return them as bool arrays of equal shape."""
    p = as_binary_mask(pred, "pred")
    g = as_binary_mask(gt, "gt")
    check_same_shape(p, g, "pred", "gt")
    return p, g
