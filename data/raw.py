"""Readers of the raw download layouts (docs/METHOD.md §4.1, docs/ARCHITECTURE.md §1).

Each reader takes the folder that holds the data set's top folder (``--raw-root``, or
``<raw-root>/synthetic`` for the replicas) and returns in-memory :class:`RawSample` s in
the documented sample order. Files are only read, never modified. Every problem raises
:class:`data.DataError` naming the file and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from data import DataError


class MissingRawDataError(DataError):
    """The raw folder or file of a data set is absent; ``expected`` is the path looked for."""

    def __init__(self, expected: Path, what: str):
        super().__init__(f"{what} not found: expected {expected}")
        self.expected = expected


@dataclass(frozen=True)
class Source:
    """A raw file a sample was read from; ``page`` is the slice index inside a multi-page TIFF."""

    role: str
    path: Path
    page: int | None = None


@dataclass(frozen=True)
class RawSample:
    """One raw sample. ``image`` uint8 ``(H,W,3)`` or ``(H,W)``; ``label`` ``(H,W)``: the manual
    vessel mask (DRIVE), instance ids (GlaS, SNEMI3D) or the 0/255 label (ISBI 2012);
    ``fov`` ``(H,W)`` (DRIVE) or None; ``label2`` ``(H,W)`` the second observer's vessel mask
    (DRIVE test, CHASE_DB1, STARE) or None."""

    id: str
    image: np.ndarray
    label: np.ndarray
    fov: np.ndarray | None = None
    sources: tuple[Source, ...] = field(default_factory=tuple)
    label2: np.ndarray | None = None


# ----------------------------------------------------------------------- file reading


def read_image_file(path: Path) -> np.ndarray:
    """Read one 2-D image (TIFF, GIF, BMP, PNG) as stored, without colour conversion.

    Palette images give their raw palette indices (DRIVE's 0/1 GIFs, GlaS's instance BMPs).
    Raises DataError for a missing, unreadable or truncated file.
    """
    if not path.is_file():
        raise MissingRawDataError(path, "file")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            return np.asarray(tifffile.imread(path))
        with Image.open(path) as im:
            im.load()  # decode now: a truncated file fails here, not later
            return np.asarray(im)
    except DataError:
        raise
    except Exception as err:  # any decoder error means the same thing to the user
        raise DataError(
            f"cannot read {path}: {type(err).__name__}: {err} (truncated or not an image?)"
        ) from err


def read_volume_file(path: Path) -> np.ndarray:
    """Read a multi-page TIFF as a ``(S,H,W)`` array; DataError if absent, unreadable or not 3-D."""
    volume = read_image_file(path)
    if volume.ndim != 3:
        raise DataError(f"{path}: expected a multi-page grayscale TIFF (S,H,W), got shape {volume.shape}")
    return volume


def check_rgb(path: Path, image: np.ndarray) -> None:
    """Raise DataError unless ``image`` is uint8 ``(H,W,3)``."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"{path}: expected an RGB uint8 image (H,W,3), got {image.dtype} {image.shape}")


def check_same_size(path: Path, array: np.ndarray, ref_path: Path, ref_shape: tuple[int, ...]) -> None:
    """Raise DataError when ``array`` is not 2-D with the spatial size ``ref_shape[:2]``."""
    if array.ndim != 2 or array.shape != tuple(ref_shape[:2]):
        raise DataError(
            f"{path}: expected a single-channel (H,W) = {tuple(ref_shape[:2])} array matching {ref_path}, "
            f"got shape {array.shape}"
        )


def check_binary(path: Path, array: np.ndarray, allowed: tuple[int, ...]) -> None:
    """Raise DataError when ``array`` holds a value outside ``allowed``."""
    values = np.unique(array)
    extra = sorted(set(values.tolist()) - set(allowed))
    if extra:
        raise DataError(
            f"{path}: unexpected label values {extra[:10]}; expected only values in {list(allowed)}"
        )


def require_dir(path: Path, what: str) -> Path:
    """Return ``path`` if it is a folder, else raise MissingRawDataError."""
    if not path.is_dir():
        raise MissingRawDataError(path, what)
    return path


# ---------------------------------------------------------------------------- DRIVE

DRIVE_DIR = Path("DRIVE") / "Drive_source"
_DRIVE_IMAGE = re.compile(r"^(\d+)_(training|test)\.tif$")

#: Values a DRIVE manual or FOV GIF may hold: 0/255 (mode L) or 0/1 (palette indices).
DRIVE_MASK_VALUES = (0, 1, 255)


def read_drive(base: Path) -> list[RawSample]:
    """DRIVE: ``DRIVE/Drive_source/{training,test}/{images,1st_manual,mask}``, ordered 01..40.

    Sample id = image stem (``01_test``, ``21_training``); label = ``1st_manual``; fov = ``mask``;
    label2 = ``2nd_manual/NN_manual2.gif`` where present (the 20 test images only; palette 0/1).
    """
    root = require_dir(base / DRIVE_DIR, "DRIVE raw folder")
    found = []
    for part in ("training", "test"):
        images = require_dir(root / part / "images", "DRIVE images folder")
        for path in images.iterdir():
            m = _DRIVE_IMAGE.match(path.name)
            if m and m.group(2) == part:
                found.append((int(m.group(1)), m.group(1), part, path))
    if not found:
        raise MissingRawDataError(
            root / "test" / "images" / "01_test.tif", "DRIVE images (NN_{training,test}.tif)"
        )
    samples = []
    for _, num, part, img_path in sorted(found):
        manual_path = root / part / "1st_manual" / f"{num}_manual1.gif"
        fov_path = root / part / "mask" / f"{num}_{part}_mask.gif"
        for p, what in ((manual_path, "manual annotation"), (fov_path, "FOV mask")):
            if not p.is_file():
                raise DataError(f"{img_path}: image without its {what}; expected {p}")
        image = read_image_file(img_path)
        check_rgb(img_path, image)
        manual = read_image_file(manual_path)
        fov = read_image_file(fov_path)
        for p, arr in ((manual_path, manual), (fov_path, fov)):
            check_same_size(p, arr, img_path, image.shape)
            check_binary(p, arr, DRIVE_MASK_VALUES)
        second, extra = _drive_second_observer(
            root / part / "2nd_manual" / f"{num}_manual2.gif", img_path, image.shape
        )
        samples.append(
            RawSample(
                id=img_path.stem,
                image=image,
                label=manual,
                fov=fov,
                sources=(
                    Source("image", img_path),
                    Source("mask", manual_path),
                    Source("fov", fov_path),
                    *extra,
                ),
                label2=second,
            )
        )
    return samples


def _drive_second_observer(path: Path, img_path: Path, shape) -> tuple[np.ndarray | None, tuple[Source, ...]]:
    """DRIVE's ``2nd_manual`` annotation and its source entry, or (None, ()) where it does not exist."""
    if not path.is_file():
        return None, ()
    second = read_image_file(path)
    check_same_size(path, second, img_path, shape)
    check_binary(path, second, DRIVE_MASK_VALUES)
    return second, (Source("mask2", path),)


# ----------------------------------------------------------------------------- GlaS

GLAS_DIR = Path("GlaS") / "Warwick_QU_Dataset"
_GLAS_IMAGE = re.compile(r"^(train|testA|testB)_(\d+)\.bmp$")
GLAS_GROUPS = ("train", "testA", "testB")


def read_glas(base: Path) -> list[RawSample]:
    """GlaS: ``GlaS/Warwick_QU_Dataset/{train,testA,testB}_N.bmp`` + ``_N_anno.bmp`` (+ ``Grade.csv``).

    Order: train_1..85, testA_1..60, testB_1..20 (numeric). Label = the annotation's instance
    ids as stored (8-bit palette indices or gray values; 0 = no gland).
    """
    root = require_dir(base / GLAS_DIR, "GlaS raw folder")
    found = []
    for path in root.iterdir():
        m = _GLAS_IMAGE.match(path.name)
        if m:
            found.append((GLAS_GROUPS.index(m.group(1)), int(m.group(2)), path))
    if not found:
        raise MissingRawDataError(root / "train_1.bmp", "GlaS images ({train,testA,testB}_N.bmp)")
    grade = root / "Grade.csv"
    extra = (Source("grade", grade),) if grade.is_file() else ()
    samples = []
    for _, _, img_path in sorted(found):
        anno_path = img_path.with_name(f"{img_path.stem}_anno.bmp")
        if not anno_path.is_file():
            raise DataError(f"{img_path}: image without its annotation; expected {anno_path}")
        image = read_image_file(img_path)
        check_rgb(img_path, image)
        anno = read_image_file(anno_path)
        if anno.ndim != 2:
            raise DataError(
                f"{anno_path}: unexpected label values: expected an 8-bit instance-id map (H,W), got shape {anno.shape}"
            )
        check_same_size(anno_path, anno, img_path, image.shape)
        samples.append(
            RawSample(
                id=img_path.stem,
                image=image,
                label=anno,
                sources=(Source("image", img_path), Source("instances", anno_path), *extra),
            )
        )
    return samples


# -------------------------------------------------------------------- SNEMI3D, ISBI 2012

SNEMI3D_DIRS = ("snemi3d", "SNEMI3D")
ISBI2012_DIR = "ISBI2012"


def _read_stack(img_path: Path, lab_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an image volume and its label volume; check uint8 images and equal shapes."""
    if not lab_path.is_file():
        raise DataError(f"{img_path}: image volume without its labels; expected {lab_path}")
    volume = read_volume_file(img_path)
    labels = read_volume_file(lab_path)
    if volume.dtype != np.uint8:
        raise DataError(f"{img_path}: expected uint8 grayscale slices, got {volume.dtype}")
    if labels.shape != volume.shape:
        raise DataError(
            f"{lab_path}: label volume shape {labels.shape} does not match {img_path} {volume.shape}"
        )
    return volume, labels


def read_snemi3d(base: Path) -> list[RawSample]:
    """SNEMI3D: ``snemi3d/`` (or ``SNEMI3D/``) ``train-input.tif`` + ``train-labels.tif``; one
    sample per slice, in slice order; label = instance ids (0 = unlabelled)."""
    root = next((base / d for d in SNEMI3D_DIRS if (base / d).is_dir()), None)
    if root is None:
        raise MissingRawDataError(base / SNEMI3D_DIRS[0], f"SNEMI3D raw folder ({' or '.join(SNEMI3D_DIRS)})")
    img_path, lab_path = root / "train-input.tif", root / "train-labels.tif"
    volume, labels = _read_stack(img_path, lab_path)
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise DataError(
            f"{lab_path}: unexpected label values: expected non-negative integer instance ids, "
            f"got {labels.dtype} with minimum {labels.min()}"
        )
    return [
        RawSample(
            id=f"slice_{z:03d}",
            image=volume[z],
            label=labels[z],
            sources=(Source("image", img_path, z), Source("instances", lab_path, z)),
        )
        for z in range(volume.shape[0])
    ]


def read_isbi2012(base: Path) -> list[RawSample]:
    """ISBI 2012: ``ISBI2012/train-volume.tif`` + ``train-labels.tif`` (255 = interior, 0 = membrane)."""
    root = require_dir(base / ISBI2012_DIR, "ISBI 2012 raw folder")
    img_path, lab_path = root / "train-volume.tif", root / "train-labels.tif"
    if not img_path.is_file():
        raise MissingRawDataError(img_path, "ISBI 2012 image volume")
    volume, labels = _read_stack(img_path, lab_path)
    check_binary(lab_path, labels, (0, 255))
    return [
        RawSample(
            id=f"slice_{z:02d}",
            image=volume[z],
            label=labels[z],
            sources=(Source("image", img_path, z), Source("mask", lab_path, z)),
        )
        for z in range(volume.shape[0])
    ]
