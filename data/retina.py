"""CHASE_DB1 and STARE (retinal vessels, two observers each): readers, the field-of-view rule,
the processor and synthetic replicas of their raw layouts (issue 17; shared/data/SOURCES.md §5-§6).

Raw layouts (``--raw-root``):

- ``CHASE_DB1/Image_NN{L,R}.jpg`` (999x960 RGB JPEG) with ``Image_NN{L,R}_1stHO.png`` and
  ``_2ndHO.png`` (1-bit PNG), flat, as the official ``CHASEDB1.zip`` unpacks (Fraz et al., IEEE
  TBME 59(9), 2012). Order: 01L, 01R, 02L, ..., 14R.
- ``STARE/stare-images/imNNNN.ppm`` (700x605 binary PPM, P6) with ``labels-ah/imNNNN.ah.ppm`` and
  ``labels-vk/imNNNN.vk.ppm`` (single-channel P5 despite the name; Hoover et al., IEEE TMI 19(3),
  2000). Order: numeric id. ``labels-vk/`` is optional (a separate download).

Class 1 = vessel of the FIRST observer, the convention of the literature (CHASE_DB1 ``1stHO``,
STARE ``ah``); the second observer (``2ndHO``, ``vk``) is kept as ``RawSample.label2`` and written
to ``masks2/`` for the inter-observer row (:mod:`evaluation.observer`).

Neither set ships field-of-view masks; :func:`fov_from_image` derives one from the image.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from data import DataError
from data.processing import ProcessedSample, process_drive
from data.raw import (
    MissingRawDataError,
    RawSample,
    Source,
    check_binary,
    check_rgb,
    check_same_size,
    read_image_file,
    require_dir,
)

CHASE_DIR = Path("CHASE_DB1")
STARE_DIR = Path("STARE")
_CHASE_IMAGE = re.compile(r"^Image_(\d{2})([LR])\.jpg$")
_STARE_IMAGE = re.compile(r"^im(\d{4})\.ppm$")
#: Values a vessel annotation may hold: bool/0-1 (CHASE_DB1 1-bit PNG) or 0/255 (STARE P5).
VESSEL_MASK_VALUES = (0, 1, 255)

#: FOV rule (project choice, measured on the 48 real images of CHASE_DB1 and STARE): the dark
#: frame's red level differs per set and image (CHASE_DB1 0-4, STARE's noisy frame up to 32, while
#: CHASE_DB1's darkest FOV rims fall to 20-40), so the threshold is the frame level plus a margin:
#: the 99th percentile of the red values in the four corner squares (side: this fraction of the
#: shorter image side; the corners lie outside the circular FOV in every real image) ...
FOV_CORNER_FRACTION = 0.05
#: ... plus this margin (red levels, 0-255).
FOV_MARGIN = 10
#: Radius (pixels) of the disk of the morphological opening that removes specks and thin spurs.
FOV_OPENING_RADIUS = 3


# ------------------------------------------------------------------------- field of view


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a bool ``(H,W)`` mask (all False if ``mask`` is)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def frame_level(red: np.ndarray, fraction: float = FOV_CORNER_FRACTION) -> float:
    """99th percentile of ``red`` (H,W) in the four corner squares of side ``fraction`` x shorter side."""
    k = max(1, int(round(fraction * min(red.shape))))
    corners = np.concatenate([red[:k, :k], red[:k, -k:], red[-k:, :k], red[-k:, -k:]], axis=None)
    return float(np.percentile(corners, 99))


def fov_from_image(
    image: np.ndarray, threshold: float | None = None, radius: int = FOV_OPENING_RADIUS
) -> np.ndarray:
    """Field-of-view mask of a fundus photograph, bool ``(H,W)``.

    Rule (the red-channel threshold plus morphological cleaning that papers use for STARE and
    CHASE_DB1, e.g. Soares et al., IEEE TMI 25(9), 2006): ``red > threshold`` (default: the frame
    level of :func:`frame_level` + ``FOV_MARGIN``), opened with a disk of ``radius`` (removes noise
    specks and thin bright spurs of the frame), the largest 8-connected component kept, its holes
    filled (dark lesions, the darkest vessels).

    Raises:
        DataError: ``image`` is not uint8 RGB, or no pixel passes the threshold.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"FOV rule needs an RGB uint8 image (H,W,3), got {image.dtype} {image.shape}")
    from skimage.morphology import disk  # imported on use, like the other skimage users of data/

    red = image[..., 0]
    if threshold is None:
        threshold = frame_level(red) + FOV_MARGIN
    bright = red > threshold
    opened = ndimage.binary_opening(bright, structure=disk(radius)) if radius > 0 else bright
    fov = ndimage.binary_fill_holes(largest_component(opened))
    if not fov.any():
        raise DataError(
            f"no field of view found: no red value above {threshold} survives an opening of radius {radius}"
        )
    return fov


def process_vessels(
    sid: str, image: np.ndarray, label: np.ndarray, fov: np.ndarray | None
) -> ProcessedSample:
    """CHASE_DB1 / STARE: DRIVE's processing (edge padding to a multiple of 32, class 1 = ``label > 0``)
    with the FOV of :func:`fov_from_image` when the raw sample has none."""
    return process_drive(sid, image, label, fov_from_image(image) if fov is None else fov)


# ------------------------------------------------------------------------------ readers


def _read_annotation(path: Path, img_path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A single-channel vessel annotation of the image's size with values in VESSEL_MASK_VALUES."""
    if not path.is_file():
        raise DataError(f"{img_path}: image without its annotation; expected {path}")
    label = read_image_file(path)
    check_same_size(path, label, img_path, shape)
    check_binary(path, label, VESSEL_MASK_VALUES)
    return label


def _vessel_sample(sid: str, img_path: Path, first: Path, second: Path | None) -> RawSample:
    """One RawSample: RGB image, first observer as label, second observer (if any) as label2."""
    image = read_image_file(img_path)
    check_rgb(img_path, image)
    label = _read_annotation(first, img_path, image.shape)
    label2 = None if second is None else _read_annotation(second, img_path, image.shape)
    sources = (Source("image", img_path), Source("mask", first)) + (
        () if second is None else (Source("mask2", second),)
    )
    return RawSample(id=sid, image=image, label=label, sources=sources, label2=label2)


def read_chase_db1(base: Path) -> list[RawSample]:
    """CHASE_DB1: ``CHASE_DB1/Image_NN{L,R}.jpg`` + ``_1stHO.png`` (label) + ``_2ndHO.png`` (label2).

    Sample id = image stem (``Image_01L``); ordered by child number, then L before R.
    """
    root = require_dir(base / CHASE_DIR, "CHASE_DB1 raw folder")
    found = sorted(
        (int(m.group(1)), m.group(2), p) for p in root.iterdir() if (m := _CHASE_IMAGE.match(p.name))
    )
    if not found:
        raise MissingRawDataError(root / "Image_01L.jpg", "CHASE_DB1 images (Image_NN{L,R}.jpg)")
    return [
        _vessel_sample(p.stem, p, p.with_name(f"{p.stem}_1stHO.png"), p.with_name(f"{p.stem}_2ndHO.png"))
        for _, _, p in found
    ]


def read_stare(base: Path) -> list[RawSample]:
    """STARE: ``STARE/stare-images/imNNNN.ppm`` + ``labels-ah/imNNNN.ah.ppm`` (label) +
    ``labels-vk/imNNNN.vk.ppm`` (label2, when the ``labels-vk`` folder exists).

    Sample id = ``imNNNN``; ordered by number.
    """
    root = require_dir(base / STARE_DIR, "STARE raw folder")
    images = require_dir(root / "stare-images", "STARE images folder")
    require_dir(root / "labels-ah", "STARE first-observer (Hoover) labels folder")
    has_vk = (root / "labels-vk").is_dir()
    found = sorted((int(m.group(1)), p) for p in images.iterdir() if (m := _STARE_IMAGE.match(p.name)))
    if not found:
        raise MissingRawDataError(images / "im0001.ppm", "STARE images (imNNNN.ppm)")
    return [
        _vessel_sample(
            p.stem,
            p,
            root / "labels-ah" / f"{p.stem}.ah.ppm",
            root / "labels-vk" / f"{p.stem}.vk.ppm" if has_vk else None,
        )
        for _, p in found
    ]


# -------------------------------------------------------------------- synthetic replicas

#: Replica sizes: the real sizes / 4 (CHASE_DB1 960x999 -> 240x250, STARE 605x700 -> 151x175).
CHASE_SYNTH_SIZE = (240, 250)
STARE_SYNTH_SIZE = (151, 175)
#: The real STARE vessel-subset ids, used in order for the replica's file names.
STARE_IDS = (1, 2, 3, 4, 5, 44, 77, 81, 82, 139, 162, 163, 235, 236, 239, 240, 255, 291, 319, 324)


def synth_fundus(seed: int, index: int, size: tuple[int, int], frame: float):
    """(image uint8 (H,W,3), first observer bool, second observer bool, fov bool) of one replica.

    The fundus and first observer are :func:`data.synthetic.synth_drive_sample`'s; ``frame`` is the
    mean red level of the dark frame outside the FOV (STARE's is noisy, around 15/255). The second
    observer draws vessels thicker where a smooth random field is high and misses them where it is
    low, as human observers differ on vessel width and on thin vessels.
    """
    from data.synthetic import _smooth_noise, synth_drive_sample

    image, manual, fov = synth_drive_sample(seed, index, size)
    rng = np.random.default_rng([seed, index, 2])
    image = image.copy()
    noise = np.clip(frame + 0.02 * rng.standard_normal(size), 0, 1)
    image[~fov, 0] = np.rint(255 * noise[~fov]).astype(np.uint8)
    field = _smooth_noise(rng, size, 6)
    second = (manual | (ndimage.binary_dilation(manual) & (field > 0.5))) & ~(field < -1.2) & fov
    return image, manual, second, fov


def _save_1bit_png(path: Path, mask: np.ndarray) -> None:
    """A bool mask as a 1-bit grayscale PNG (Pillow mode '1'), like CHASE_DB1's annotations."""
    Image.fromarray(mask.astype(bool)).save(path, format="PNG")


def write_synth_chase_db1(top: Path, samples: int, seed: int) -> None:
    """Write ``samples`` CHASE_DB1 replicas flat into ``top`` (= ``<raw-root>/synthetic/CHASE_DB1``):
    ``Image_NN{L,R}.jpg`` (JPEG, quality 95) with ``_1stHO.png`` / ``_2ndHO.png`` (1-bit PNG)."""
    top.mkdir(parents=True, exist_ok=True)
    for i in range(samples):
        stem = f"Image_{i // 2 + 1:02d}{'LR'[i % 2]}"
        image, first, second, _ = synth_fundus(seed, i, CHASE_SYNTH_SIZE, frame=0.0)
        Image.fromarray(image, mode="RGB").save(top / f"{stem}.jpg", format="JPEG", quality=95)
        _save_1bit_png(top / f"{stem}_1stHO.png", first)
        _save_1bit_png(top / f"{stem}_2ndHO.png", second)


def write_synth_stare(top: Path, samples: int, seed: int) -> None:
    """Write ``samples`` STARE replicas into ``top`` (= ``<raw-root>/synthetic/STARE``):
    ``stare-images/imNNNN.ppm`` (P6) and ``labels-{ah,vk}/imNNNN.{ah,vk}.ppm`` (P5, 0/255)."""
    for sub in ("stare-images", "labels-ah", "labels-vk"):
        (top / sub).mkdir(parents=True, exist_ok=True)
    ids = list(STARE_IDS) + list(range(1000, 1000 + max(0, samples - len(STARE_IDS))))
    for i in range(samples):
        stem = f"im{ids[i]:04d}"
        image, first, second, _ = synth_fundus(seed, i, STARE_SYNTH_SIZE, frame=15 / 255)
        Image.fromarray(image, mode="RGB").save(top / "stare-images" / f"{stem}.ppm", format="PPM")
        for sub, tag, mask in (("labels-ah", "ah", first), ("labels-vk", "vk", second)):
            gray = np.where(mask, 255, 0).astype(np.uint8)
            Image.fromarray(gray, mode="L").save(top / sub / f"{stem}.{tag}.ppm", format="PPM")
