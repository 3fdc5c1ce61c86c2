"""Pure functions that turn raw samples into the processed form (docs/METHOD.md §4.2-§4.5).

No file access here: padding, label construction per data set, dataset statistics, class
weights and seeded splits, each a small function of arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from data import DataError

#: Every processed image side is a multiple of this (docs/METHOD.md §4.3; the U-Net pools 5 times).
PAD_MULTIPLE = 32

Padding = tuple[tuple[int, int], tuple[int, int]]


def centred_padding(size: tuple[int, int], multiple: int = PAD_MULTIPLE) -> Padding:
    """Padding ``((top, bottom), (left, right))`` that brings ``size`` (H, W) to a multiple.

    Centred as docs/METHOD.md §4.3: floor half before, the rest after (DRIVE 584x565 ->
    ((12, 12), (5, 6)) -> 608x576).
    """
    out = []
    for n in size:
        total = -n % multiple
        out.append((total // 2, total - total // 2))
    return tuple(out)  # type: ignore[return-value]


def pad(array: np.ndarray, padding: Padding, mode: str, value: int = 0) -> np.ndarray:
    """Pad the two leading (spatial) axes of ``(H,W)`` or ``(H,W,C)`` ``array``.

    ``mode`` is ``"edge"`` (replicate the border) or ``"constant"`` (fill with ``value``).
    """
    widths = list(padding) + [(0, 0)] * (array.ndim - 2)
    if mode == "edge":
        return np.pad(array, widths, mode="edge")
    if mode == "constant":
        return np.pad(array, widths, mode="constant", constant_values=value)
    raise ValueError(f"pad mode must be 'edge' or 'constant', got {mode!r}")


# --------------------------------------------------------------------------- labels (§4.2)


def drive_target(manual: np.ndarray) -> np.ndarray:
    """DRIVE class 1 = vessel: manual annotation ``> 0``.

    ``> 0`` and not ``== 255``: some DRIVE GIFs are palette images whose raw values are 0/1.
    """
    return manual > 0


def glas_target(instances: np.ndarray) -> np.ndarray:
    """GlaS class 1 = non-gland (stroma): the inverse of ``instance id != 0``.

    Called on the PADDED instance map (padding 0), so the padding becomes class 1 (§4.3).
    """
    return instances == 0


def snemi3d_target(labels: np.ndarray) -> np.ndarray:
    """SNEMI3D class 1 = membrane: thick 4-connected instance boundaries OR unlabelled (id 0).

    ``find_boundaries(labels, connectivity=1, background=0)`` in its default "thick" mode
    marks pixels on both sides of every boundary between different ids (§4.2).
    """
    from skimage.segmentation import find_boundaries  # imported on use: keeps DRIVE/ISBI prep start-up short

    return find_boundaries(labels, connectivity=1, background=0) | (labels == 0)


def isbi2012_target(labels: np.ndarray) -> np.ndarray:
    """ISBI 2012 class 1 = membrane = label value 0 (255 is cell interior)."""
    return labels == 0


# ------------------------------------------------------------------------ samples


@dataclass(frozen=True)
class ProcessedSample:
    """One padded sample. Arrays: image uint8 ``(H,W,3)`` or ``(H,W)``; mask bool ``(H,W)``
    (True = class 1); fov bool ``(H,W)`` or None; instances int32 ``(H,W)`` or None; mask2 bool
    ``(H,W)`` the second observer's class 1 or None (:func:`with_second_observer`)."""

    id: str
    image: np.ndarray
    mask: np.ndarray
    fov: np.ndarray | None
    instances: np.ndarray | None
    original_size: tuple[int, int]
    padding: Padding
    mask2: np.ndarray | None = None


def with_second_observer(sample: ProcessedSample, label2: np.ndarray | None) -> ProcessedSample:
    """``sample`` with the second observer's vessel mask (``label2 > 0``), padded like the first
    observer's (edge replication, the vessel sets' rule); ``sample`` itself when ``label2`` is None."""
    if label2 is None:
        return sample
    if label2.shape != tuple(sample.original_size):
        raise DataError(
            f"{sample.id}: second annotation {label2.shape} does not match the image {sample.original_size}"
        )
    return replace(sample, mask2=pad(label2, sample.padding, "edge") > 0)


def process_drive(sid: str, image: np.ndarray, label: np.ndarray, fov: np.ndarray | None) -> ProcessedSample:
    """DRIVE: edge replication of image, manual mask and FOV to a multiple of 32 (§4.3)."""
    padding = centred_padding(image.shape[:2])
    return ProcessedSample(
        id=sid,
        image=pad(image, padding, "edge"),
        mask=drive_target(pad(label, padding, "edge")),
        fov=None if fov is None else pad(fov, padding, "edge") > 0,
        instances=None,
        original_size=tuple(image.shape[:2]),
        padding=padding,
    )


def process_glas(sid: str, image: np.ndarray, label: np.ndarray, fov: np.ndarray | None) -> ProcessedSample:
    """GlaS: image padded with 255 (white), instance ids with 0, THEN inverted (§4.3 quirk:
    the padding therefore becomes class 1, like stroma)."""
    padding = centred_padding(image.shape[:2])
    instances = pad(label.astype(np.int32), padding, "constant", 0)
    return ProcessedSample(
        id=sid,
        image=pad(image, padding, "constant", 255),
        mask=glas_target(instances),
        fov=None,
        instances=instances,
        original_size=tuple(image.shape[:2]),
        padding=padding,
    )


def process_snemi3d(
    sid: str, image: np.ndarray, label: np.ndarray, fov: np.ndarray | None
) -> ProcessedSample:
    """SNEMI3D slice: boundaries of the instance labels (§4.2). Real slices are 1024x1024 and
    need no padding; other sizes are edge-padded (project choice: no artificial membrane)."""
    padding = centred_padding(image.shape[:2])
    instances = pad(label.astype(np.int32), padding, "edge")
    return ProcessedSample(
        id=sid,
        image=pad(image, padding, "edge"),
        mask=snemi3d_target(instances),
        fov=None,
        instances=instances,
        original_size=tuple(image.shape[:2]),
        padding=padding,
    )


def process_isbi2012(
    sid: str, image: np.ndarray, label: np.ndarray, fov: np.ndarray | None
) -> ProcessedSample:
    """ISBI 2012 slice: class 1 = label 0 (membrane); 512x512 needs no padding (edge otherwise)."""
    padding = centred_padding(image.shape[:2])
    return ProcessedSample(
        id=sid,
        image=pad(image, padding, "edge"),
        mask=isbi2012_target(pad(label, padding, "edge")),
        fov=None,
        instances=None,
        original_size=tuple(image.shape[:2]),
        padding=padding,
    )


# ------------------------------------------------------------------- statistics (§4.3-§4.4)


def channel_moments(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) std of a uint8 image scaled to [0,1], in float64.

    ``image``: ``(H,W)`` or ``(H,W,C)``; returns two ``(C,)`` arrays (C = 1 for gray).
    Computed from the exact 256-bin histogram of each channel (two passes over the bins):
    the same numbers as ``(image / 255).mean()`` / ``.std()`` in float64, to rounding, at a
    fraction of the time and memory.
    """
    if image.dtype != np.uint8:
        raise DataError(f"statistics need a uint8 image, got {image.dtype}")
    flat = image.reshape(image.shape[0] * image.shape[1], -1)
    levels = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for c in range(flat.shape[1]):
        hist = np.bincount(flat[:, c], minlength=256).astype(np.float64)
        n = hist.sum()
        mean = (hist * levels).sum() / n
        means.append(mean)
        stds.append(np.sqrt((hist * (levels - mean) ** 2).sum() / n))
    return np.array(means), np.array(stds)


def dataset_mean_std(moments: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Dataset statistics from per-image moments (docs/METHOD.md §4.3), float64 ``(C,)`` each.

    mean = mean_i(mean_i); std = sqrt(mean_i(std_i^2 + (mean_i - mean)^2)). Every image
    counts once, whatever its size (the paper-time code averaged per image).
    """
    if not moments:
        raise DataError("cannot compute dataset statistics of zero images")
    means = np.stack([m for m, _ in moments])
    stds = np.stack([s for _, s in moments])
    mean = means.mean(axis=0)
    std = np.sqrt(np.mean(stds**2 + (means - mean) ** 2, axis=0))
    return mean, std


def class_weights(mask: np.ndarray) -> tuple[float, float]:
    """Per-image class weights (c0, c1) of a binary mask (docs/METHOD.md §4.4).

    c = (n0, n1) / min(n0, n1); c <- sum(c) - c: the majority class gets 1, the minority
    n_major / n_minor. A one-class mask gets (1, 1) (the formula would divide by zero).
    """
    n1 = int(np.count_nonzero(mask))
    n0 = int(mask.size) - n1
    if n0 == 0 or n1 == 0:
        return 1.0, 1.0
    c = np.array([n0, n1], dtype=np.float64) / min(n0, n1)
    c = c.sum() - c
    return float(c[0]), float(c[1])


# ------------------------------------------------------------------------- splits (§4.5)


def make_splits(num_samples: int, seed: int, n_folds: int = 3, val_fraction: float = 0.2) -> list[dict]:
    """Seeded k-fold splits with a train/validation split inside each fold (docs/METHOD.md §4.5).

    ``KFold(3, shuffle=True, random_state=seed)`` over the sample indices, then
    ``train_test_split(train_part, test_size=0.2, random_state=seed)``. Returns one
    ``{"train", "val", "test"}`` dict of int lists per fold, in scikit-learn's order.
    DRIVE (40): test 14/13/13, train/val 20-21/6.
    """
    # imported on use: scikit-learn takes seconds to import on a loaded machine
    from sklearn.model_selection import KFold, train_test_split

    if num_samples < n_folds:
        raise DataError(f"{num_samples} samples cannot be split into {n_folds} folds")
    folds = []
    kfold = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for train_part, test in kfold.split(np.arange(num_samples)):
        train, val = train_test_split(train_part, test_size=val_fraction, random_state=seed)
        folds.append(
            {"train": [int(i) for i in train], "val": [int(i) for i in val], "test": [int(i) for i in test]}
        )
    return folds
