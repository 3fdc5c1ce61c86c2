"""Embedded synthetic replicas of DRIVE, GlaS and SNEMI3D, written in the EXACT raw layout
and file formats of the real downloads (docs/ARCHITECTURE.md §1), deterministic from a seed.

They make the whole suite run on a fresh machine without downloads, and they are how the
GlaS and SNEMI3D readers are proven (the real sets cannot be obtained here), so names,
formats, dtypes and value conventions follow the originals:

- synth-drive: ``DRIVE/Drive_source/{test,training}/images/NN_{test,training}.tif`` (RGB,
  LZW TIFF), ``1st_manual/NN_manual1.gif`` and ``mask/NN_{test,training}_mask.gif`` (GIF,
  0/255); a fundus-like image in a circular field of view with thin branching vessels,
  darker in the green channel. 146x141 (the real 584x565 / 4; padded to 160x160).
- synth-glas: ``GlaS/Warwick_QU_Dataset/{train,testA,testB}_N.bmp`` (24-bit BMP) +
  ``_N_anno.bmp`` (8-bit instance ids, 0 = background) + ``Grade.csv`` with the real
  columns; H&E-coloured stroma with gland blobs (dark epithelium ring, pale lumen), some
  touching. Two sizes like the real set: 130x194 and 108x142 (the real 522x775 and
  430x567 / 4).
- synth-snemi3d: ``snemi3d/train-input.tif`` (multi-page uint8) and ``train-labels.tif``
  (multi-page uint32 instance ids): warped 3-D Voronoi cells with dark membranes, dark
  organelles, blur and noise, 128x128 slices.

All randomness comes from ``numpy.random.default_rng([seed, sample])``: same seed, same bytes.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image
from scipy import ndimage
from skimage.segmentation import find_boundaries

from data import DataError
from data.files import atomic_write_json, read_json, staging_dir
from data.processing import snemi3d_target
from data.raw import DRIVE_DIR, GLAS_DIR

#: Bump when a generator's output changes, so stale replicas are detected.
SYNTH_VERSION = 1

DRIVE_SIZE = (146, 141)
GLAS_SIZES = ((130, 194), (108, 142))
SNEMI3D_SIZE = (128, 128)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """[0,1] float -> uint8 with rounding and clipping."""
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to zero mean, unit std ``(H,W)``."""
    n = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return (n - n.mean()) / (n.std() + 1e-12)


# ---------------------------------------------------------------------------- DRIVE


def _vessel_tree(rng: np.random.Generator, shape: tuple[int, int], root: tuple[float, float]) -> np.ndarray:
    """Binary ``(H,W)`` map of thin branching vessels grown by random walks from ``root`` (y, x)."""
    canvas = np.zeros(shape, np.uint8)
    # (y, x, angle, length, thickness, depth): trunks leave the optic disc in all directions.
    n_trunks = int(rng.integers(4, 7))
    stack = [
        (root[0], root[1], 2 * math.pi * (k + rng.uniform(-0.3, 0.3)) / n_trunks, rng.uniform(45, 75), 2, 3)
        for k in range(n_trunks)
    ]
    while stack:
        y, x, angle, length, width, depth = stack.pop()
        pts = [(x, y)]
        for _ in range(max(2, int(length / 3))):
            angle += rng.normal(0.0, 0.18)
            x, y = x + 3 * math.cos(angle), y + 3 * math.sin(angle)
            pts.append((x, y))
            if depth > 0 and rng.random() < 0.08:  # side branch
                side = angle + rng.choice([-1, 1]) * rng.uniform(0.5, 1.1)
                stack.append((y, x, side, length * rng.uniform(0.3, 0.6), max(1, width - 1), depth - 1))
        cv2.polylines(canvas, [np.rint(pts).astype(np.int32)], False, 1, thickness=width)
        if depth > 0:
            for sign in (-1, 1):
                stack.append(
                    (
                        y,
                        x,
                        angle + sign * rng.uniform(0.3, 0.8),
                        length * rng.uniform(0.5, 0.8),
                        max(1, width - 1),
                        depth - 1,
                    )
                )
    return canvas.astype(bool)


def synth_drive_sample(seed: int, index: int, size: tuple[int, int] = DRIVE_SIZE):
    """One synthetic fundus: (image uint8 (H,W,3), manual bool (H,W), fov bool (H,W))."""
    rng = np.random.default_rng([seed, index])
    h, w = size
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    radius = 0.47 * min(h, w)
    fov = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    disc = (cy + rng.uniform(-8, 8), cx + rng.choice([-1, 1]) * rng.uniform(0.35, 0.5) * radius)
    manual = _vessel_tree(rng, size, disc) & fov
    d_disc = np.hypot(yy - disc[0], xx - disc[1])
    illum = np.exp(-d_disc / (0.9 * radius)) + 0.15 * _smooth_noise(rng, size, 8)
    glow = np.exp(-((d_disc / 7.0) ** 2))  # bright optic disc
    vessel = ndimage.gaussian_filter(manual.astype(np.float64), 0.6)
    vessel = np.clip(vessel / max(vessel.max(), 1e-12), 0, 1)
    base = np.stack([0.62 + 0.2 * illum, 0.28 + 0.12 * illum, 0.10 + 0.05 * illum], axis=-1)
    base += glow[..., None] * np.array([0.25, 0.35, 0.2])
    # vessels contrast most in green (as in real fundus images), a little in red and blue
    base *= 1 - vessel[..., None] * np.array([0.25, 0.5, 0.3])
    base += 0.02 * rng.standard_normal(base.shape)
    base = np.where(fov[..., None], base, 0.01 + 0.005 * rng.standard_normal(base.shape))
    return _to_uint8(base), manual, fov


def _save_gif(path: Path, mask: np.ndarray) -> None:
    """Save a bool mask as an 8-bit grayscale GIF holding 0/255 (like DRIVE's manual/mask GIFs)."""
    # optimize=False keeps the full gray palette, so readers see mode L with values 0/255
    # exactly like the real files (an optimised palette would store indices 0/1)
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(
        path, format="GIF", optimize=False
    )


def write_synth_drive(top: Path, samples: int, seed: int) -> None:
    """Write ``samples`` fundus replicas into ``top`` (= ``<raw-root>/synthetic/DRIVE``) in DRIVE's layout.

    The first half are ``NN_test`` (like 01-20), the rest ``NN_training`` (like 21-40).
    """
    n_test = samples // 2
    for i in range(samples):
        part = "test" if i < n_test else "training"
        num = f"{i + 1:02d}"
        folder = top / DRIVE_DIR.relative_to("DRIVE") / part
        for sub in ("images", "1st_manual", "mask"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        image, manual, fov = synth_drive_sample(seed, i)
        tifffile.imwrite(folder / "images" / f"{num}_{part}.tif", image, photometric="rgb", compression="lzw")
        _save_gif(folder / "1st_manual" / f"{num}_manual1.gif", manual)
        _save_gif(folder / "mask" / f"{num}_{part}_mask.gif", fov)


# ----------------------------------------------------------------------------- GlaS

_GLAS_GRADES = {
    "benign": ["healthy", "adenomatous"],
    "malignant": ["moderately differentiated", "poorly differentiated"],
}


def synth_glas_sample(seed: int, index: int, size: tuple[int, int]):
    """One synthetic H&E tile: (image uint8 (H,W,3), instance ids uint8 (H,W), 0 = stroma)."""
    rng = np.random.default_rng([seed, index])
    h, w = size
    inst = np.zeros(size, np.uint8)
    n = int(rng.integers(4, 9))
    for k in range(1, n + 1):
        # later glands are drawn over earlier ones: overlapping ellipses become touching glands
        centre = (int(rng.integers(8, w - 8)), int(rng.integers(8, h - 8)))
        axes = (int(rng.integers(9, 26)), int(rng.integers(7, 18)))
        cv2.ellipse(inst, centre, axes, float(rng.uniform(0, 180)), 0, 360, k, thickness=-1)
    ids = [k for k in np.unique(inst) if k]
    inst = np.searchsorted(np.array([0, *ids]), inst).astype(np.uint8)  # ids 1..K, no gaps
    ring = np.zeros(size, bool)
    for k in range(1, len(ids) + 1):
        obj = inst == k
        ring |= obj & ~ndimage.binary_erosion(obj, iterations=3)
    texture = _smooth_noise(rng, size, 1.5)
    stroma = np.array([0.90, 0.62, 0.80])
    lumen = np.array([0.96, 0.90, 0.95])
    epithelium = np.array([0.42, 0.22, 0.55])
    img = np.where(inst[..., None] > 0, lumen, stroma) + 0.04 * texture[..., None]
    img = np.where(ring[..., None], epithelium, img)
    nuclei = (rng.random(size) < 0.01) & (inst == 0)
    img = np.where(ndimage.binary_dilation(nuclei)[..., None], epithelium * 0.8, img)
    img = ndimage.gaussian_filter(img, (0.7, 0.7, 0)) + 0.025 * rng.standard_normal(img.shape)
    return _to_uint8(img), inst


def glas_names(samples: int) -> list[str]:
    """File stems of ``samples`` GlaS replicas split like the real 85/60/20 train/testA/testB."""
    n_train = max(1, round(samples * 85 / 165))
    n_b = max(1, round(samples * 20 / 165)) if samples >= 3 else 0
    n_a = samples - n_train - n_b
    return (
        [f"train_{i + 1}" for i in range(n_train)]
        + [f"testA_{i + 1}" for i in range(n_a)]
        + [f"testB_{i + 1}" for i in range(n_b)]
    )


def write_synth_glas(top: Path, samples: int, seed: int) -> None:
    """Write ``samples`` GlaS replicas (BMP images, 8-bit ``_anno.bmp``, ``Grade.csv``) into
    ``top`` (= ``<raw-root>/synthetic/GlaS``)."""
    folder = top / GLAS_DIR.relative_to("GlaS")
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, name in enumerate(glas_names(samples)):
        # about one tile in four has the smaller size, like the real set's mix
        size = GLAS_SIZES[1] if i % 4 == 3 else GLAS_SIZES[0]
        image, inst = synth_glas_sample(seed, i, size)
        Image.fromarray(image, mode="RGB").save(folder / f"{name}.bmp", format="BMP")
        Image.fromarray(inst, mode="L").save(folder / f"{name}_anno.bmp", format="BMP")
        grade = "benign" if i % 2 == 0 else "malignant"
        rows.append([name, f" {i // 3 + 1}", f" {grade}", f" {_GLAS_GRADES[grade][i % 4 // 2]}"])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    # the real Grade.csv's header, leading spaces included
    writer.writerow(["name", " patient ID", " grade (GlaS)", " grade (Sirinukunwattana et al. 2015)"])
    writer.writerows(rows)
    (folder / "Grade.csv").write_text(buf.getvalue(), encoding="utf-8")


# --------------------------------------------------------------------------- SNEMI3D


def synth_snemi3d_volume(seed: int, slices: int, size: tuple[int, int] = SNEMI3D_SIZE):
    """Synthetic EM stack: (volume uint8 (S,H,W), labels uint32 (S,H,W), ids >= 1)."""
    rng = np.random.default_rng([seed, 0])
    h, w = size
    n_cells = max(8, int(h * w / 200))
    # 3-D seeds, anisotropic like serial sections (a slice step counts as 4 pixels)
    seeds = np.column_stack(
        [
            rng.uniform(-3, slices + 3, n_cells) * 4.0,
            rng.uniform(-8, h + 8, n_cells),
            rng.uniform(-8, w + 8, n_cells),
        ]
    )
    perm = rng.permutation(n_cells) + 1
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    volume = np.empty((slices, h, w), np.uint8)
    labels = np.empty((slices, h, w), np.uint32)
    warp_y, warp_x = (5.0 * _smooth_noise(rng, size, 10) for _ in range(2))
    for z in range(slices):
        py, px = yy + warp_y, xx + warp_x
        d2 = (
            (seeds[:, 0, None, None] - 4.0 * z) ** 2
            + (seeds[:, 1, None, None] - py) ** 2
            + (seeds[:, 2, None, None] - px) ** 2
        )
        lab = perm[np.argmin(d2, axis=0)].astype(np.uint32)
        membrane = find_boundaries(lab, connectivity=1, mode="inner")
        img = 0.62 + 0.05 * _smooth_noise(rng, size, 2)
        organelles = _smooth_noise(rng, size, 3) > 2.0  # dark blobs inside cells: distractors
        img = np.where(organelles, 0.38, img)
        img = np.where(membrane, 0.18, img)
        img = ndimage.gaussian_filter(img, 0.8) + 0.05 * rng.standard_normal(size)
        volume[z] = _to_uint8(img)
        labels[z] = lab
    return volume, labels


def write_synth_snemi3d(top: Path, samples: int, seed: int) -> None:
    """Write a ``samples``-slice SNEMI3D replica (multi-page TIFFs) into ``top`` (= ``<raw-root>/synthetic/snemi3d``)."""
    folder = top
    folder.mkdir(parents=True, exist_ok=True)
    volume, labels = synth_snemi3d_volume(seed, samples)
    tifffile.imwrite(folder / "train-input.tif", volume, photometric="minisblack")
    tifffile.imwrite(folder / "train-labels.tif", labels, photometric="minisblack")


# ------------------------------------------------------------------------ replicas on disk


def write_replica(
    name: str,
    writer: Callable[[Path, int, int], None],
    top: Path,
    synth_root: Path,
    samples: int,
    seed: int,
    regenerate: bool = False,
) -> bool:
    """Write the raw replica ``name`` (``writer`` fills ``synth_root/top``) unless an identical one is there.

    A marker ``<synth_root>/<name>.json`` records (samples, seed, version). A replica that
    exists with other parameters raises DataError unless ``regenerate``. The replica is
    built in a temporary folder and renamed, so it is never half-written.
    Returns True when it wrote the replica.
    """
    if samples < 3:
        raise DataError(f"--synth-samples must be at least 3 (3-fold splits), got {samples}")
    marker = synth_root / f"{name}.json"
    wanted = {"name": name, "samples": samples, "seed": seed, "version": SYNTH_VERSION}
    target = synth_root / top
    if target.exists():
        have = read_json(marker) if marker.is_file() else None
        if have == wanted:
            return False
        if not regenerate:
            raise DataError(
                f"{target} holds a synthetic replica made with {have} but {wanted} was asked for; "
                "pass --overwrite to regenerate it or choose another --raw-root"
            )
    try:
        with staging_dir(target, overwrite=True) as tmp:
            writer(tmp, samples, seed)
    except PermissionError as err:
        raise DataError(
            f"cannot write the synthetic raw replica under {synth_root}: {err}; pass a writable --raw-root"
        ) from err
    atomic_write_json(marker, wanted)
    return True


# --------------------------------------------------------------- masks for tests and benchmarks


def voronoi_membrane_mask(shape: tuple[int, int], n_cells: int, seed: int = 0) -> np.ndarray:
    """SNEMI3D-like ``(H, W)`` bool mask: Voronoi cells of random seeds, class 1 = membrane.

    The cells are instance ids; the membrane is their thick 4-connected boundary, the
    label construction of docs/METHOD.md §4.2 (:func:`data.processing.snemi3d_target`).
    """
    rng = np.random.default_rng(seed)
    seeds = np.zeros(shape, dtype=bool)
    seeds[rng.integers(0, shape[0], n_cells), rng.integers(0, shape[1], n_cells)] = True
    _, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    cells = iy * shape[1] + ix + 1  # id of the nearest seed, never 0
    return snemi3d_target(cells)


def blob_mask(shape: tuple[int, int], n_blobs: int, seed: int = 0) -> np.ndarray:
    """GlaS-like ``(H, W)`` bool mask: class 0 = a few disc-like glands, class 1 = stroma."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    glands = np.zeros(shape, dtype=bool)
    for _ in range(n_blobs):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(0.03, 0.12) * h, rng.uniform(0.03, 0.12) * w
        glands |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return ~glands


def vessel_mask(shape: tuple[int, int], n_vessels: int, seed: int = 0) -> np.ndarray:
    """DRIVE-like ``(H, W)`` bool mask: class 1 = thin random-walk vessels (1–3 px wide)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    vessels = np.zeros(shape, dtype=bool)
    for _ in range(n_vessels):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(int(1.5 * max(h, w))):
            angle += rng.normal(0, 0.1)
            y, x = y + np.sin(angle), x + np.cos(angle)
            if not (0 <= y < h and 0 <= x < w):
                break
            vessels[int(y), int(x)] = True
    width = rng.integers(0, 2)
    return ndimage.binary_dilation(vessels, iterations=int(width)) if width else vessels
