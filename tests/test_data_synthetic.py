"""Synthetic replicas: raw layout and formats of the real downloads, determinism, and the
GlaS / SNEMI3D readers proven on them (inversion, padding values, boundaries, instance ids)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile
from PIL import Image
from skimage.segmentation import find_boundaries

from data import DataError
from data.files import sha256_file
from data.prepare import main
from data.raw import read_glas, read_snemi3d
from data.registry import ensure_synthetic


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _tree_digest(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """synth-drive (6), synth-glas (8), synth-snemi3d (6 slices), prepared without maps."""
    tmp = tmp_path_factory.mktemp("synth")
    for name, n in (("synth-drive", 6), ("synth-glas", 8), ("synth-snemi3d", 6)):
        rc = main(
            [
                "--dataset",
                name,
                "--raw-root",
                str(tmp / "raw"),
                "--out-root",
                str(tmp / "out"),
                "--maps",
                "none",
                "--no-progress",
                "--synth-samples",
                str(n),
            ]
        )
        assert rc == 0
    return tmp


def test_drive_replica_formats(prepared):
    root = prepared / "raw" / "synthetic" / "DRIVE" / "Drive_source"
    assert sorted(p.name for p in (root / "test" / "images").iterdir()) == [
        "01_test.tif",
        "02_test.tif",
        "03_test.tif",
    ]
    assert (root / "training" / "mask" / "04_training_mask.gif").is_file()
    with tifffile.TiffFile(root / "test" / "images" / "01_test.tif") as tif:
        page = tif.pages[0]
        assert page.compression == tifffile.COMPRESSION.LZW and page.photometric == tifffile.PHOTOMETRIC.RGB
        assert page.shape == (146, 141, 3) and page.dtype == np.uint8
    for gif in (root / "test" / "1st_manual" / "01_manual1.gif", root / "test" / "mask" / "01_test_mask.gif"):
        with Image.open(gif) as im:
            assert im.format == "GIF" and im.mode == "L"
            assert set(np.unique(np.asarray(im))) == {0, 255}


def test_glas_replica_formats(prepared):
    root = prepared / "raw" / "synthetic" / "GlaS" / "Warwick_QU_Dataset"
    with Image.open(root / "train_1.bmp") as im:
        assert im.format == "BMP" and im.mode == "RGB"
    with Image.open(root / "train_1_anno.bmp") as im:
        assert im.format == "BMP" and im.mode in ("L", "P")  # 8-bit, like the real annotations
    with open(root / "Grade.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert [c.strip() for c in rows[0]] == [
        "name",
        "patient ID",
        "grade (GlaS)",
        "grade (Sirinukunwattana et al. 2015)",
    ]
    assert [r[0] for r in rows[1:]] == [s.id for s in read_glas(prepared / "raw" / "synthetic")]
    assert {r[2].strip() for r in rows[1:]} <= {"benign", "malignant"}


def test_snemi3d_replica_formats(prepared):
    root = prepared / "raw" / "synthetic" / "snemi3d"
    with tifffile.TiffFile(root / "train-input.tif") as tif:
        assert len(tif.pages) == 6 and tif.pages[0].dtype == np.uint8
    labels = tifffile.imread(root / "train-labels.tif")
    assert labels.shape == (6, 128, 128) and labels.dtype == np.uint32 and labels.min() >= 1


def test_glas_processed_inversion_padding_instances(prepared):
    out = prepared / "out" / "synth-glas"
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["padded_size"] is None  # two tile sizes, like the real set
    assert meta["train_crop"] == [112, 144]
    raw = read_glas(prepared / "raw" / "synthetic")
    assert [s["id"] for s in meta["samples"]] == [r.id for r in raw]
    assert [r.id for r in raw][:6] == ["train_1", "train_2", "train_3", "train_4", "testA_1", "testA_2"]
    for i, r in enumerate(raw):
        rec = meta["samples"][i]
        (t, b), (le, ri) = rec["padding"]
        assert t + b > 0 and le + ri > 0  # synthetic sizes are not multiples of 32
        image, mask = _png(out / "images" / f"{i:03d}.png"), _png(out / "masks" / f"{i:03d}.png")
        inst = np.load(out / "instances" / f"{i:03d}.npy")
        assert inst.dtype == np.int32 and inst.shape == mask.shape == image.shape[:2]
        h, w = r.label.shape
        np.testing.assert_array_equal(inst[t : t + h, le : le + w], r.label)
        assert inst[:t].max(initial=0) == 0 and inst[:, :le].max(initial=0) == 0
        assert (image[:t] == 255).all() and (image[:, :le] == 255).all()  # white padding
        np.testing.assert_array_equal(mask, np.where(inst == 0, 255, 0))  # class 1 = non-gland
        assert (mask[:t] == 255).all()  # padding is class 1
    assert max(np.load(out / "instances" / f"{i:03d}.npy").max() for i in range(8)) >= 4


def test_snemi3d_processed_boundaries(prepared):
    out = prepared / "out" / "synth-snemi3d"
    labels = tifffile.imread(prepared / "raw" / "synthetic" / "snemi3d" / "train-labels.tif")
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["padded_size"] == [128, 128] and meta["channels"] == 1 and meta["train_crop"] == [64, 64]
    for z in (0, 5):
        inst = np.load(out / "instances" / f"{z:03d}.npy")
        np.testing.assert_array_equal(inst, labels[z])
        expected = find_boundaries(labels[z], connectivity=1, background=0, mode="thick") | (labels[z] == 0)
        np.testing.assert_array_equal(_png(out / "masks" / f"{z:03d}.png") > 0, expected)
    assert meta["samples"][3]["sources"][0] == {
        "role": "image",
        "path": "synthetic/snemi3d/train-input.tif",
        "sha256": sha256_file(prepared / "raw" / "synthetic" / "snemi3d" / "train-input.tif"),
        "page": 3,
    }


@pytest.mark.parametrize("name", ["synth-drive", "synth-glas", "synth-snemi3d"])
def test_replicas_are_learnable_by_a_threshold(prepared, name):
    """Class 1 differs in intensity from class 0, so a U-Net has a clear signal to learn."""
    out = prepared / "out" / name
    channel = 0 if name == "synth-snemi3d" else 1  # vessels and glands contrast in green
    diffs = []
    for i in range(3):
        image, mask = _png(out / "images" / f"{i:03d}.png"), _png(out / "masks" / f"{i:03d}.png") > 0
        x = (image[..., channel] if image.ndim == 3 else image).astype(float)
        if name == "synth-drive":
            inside = _png(out / "fov" / f"{i:03d}.png") > 0
            diffs.append(x[inside & ~mask].mean() - x[inside & mask].mean())  # vessels darker
        elif name == "synth-glas":
            diffs.append(abs(x[~mask].mean() - x[mask].mean()))  # glands: pale lumen, dark epithelium
        else:
            diffs.append(x[~mask].mean() - x[mask].mean())  # membranes darker
    assert min(diffs) > 15


def test_same_seed_identical_files(tmp_path):
    for sub in ("a", "b"):
        for name in ("synth-drive", "synth-glas", "synth-snemi3d"):
            rc = main(
                [
                    "--dataset",
                    name,
                    "--raw-root",
                    str(tmp_path / sub / "raw"),
                    "--out-root",
                    str(tmp_path / sub / "out"),
                    "--maps",
                    "none",
                    "--no-progress",
                    "--synth-samples",
                    "3",
                ]
            )
            assert rc == 0
    raw_a, raw_b = _tree_digest(tmp_path / "a" / "raw"), _tree_digest(tmp_path / "b" / "raw")
    assert raw_a == raw_b and len(raw_a) > 20
    out_a, out_b = _tree_digest(tmp_path / "a" / "out"), _tree_digest(tmp_path / "b" / "out")
    meta = [k for k in out_a if k.endswith("metadata.json")]
    for k in meta:  # metadata differs only in the command line (other paths)
        a = json.loads((tmp_path / "a" / "out" / k).read_text())
        b = json.loads((tmp_path / "b" / "out" / k).read_text())
        a.pop("created_by"), b.pop("created_by")
        assert a == b
    assert {k: v for k, v in out_a.items() if k not in meta} == {
        k: v for k, v in out_b.items() if k not in meta
    }


def test_other_seed_other_replica(tmp_path):
    ensure_synthetic("synth-snemi3d", tmp_path / "a", 3, seed=0)
    ensure_synthetic("synth-snemi3d", tmp_path / "b", 3, seed=1)
    assert _tree_digest(tmp_path / "a" / "snemi3d") != _tree_digest(tmp_path / "b" / "snemi3d")


def test_replica_with_other_settings_needs_overwrite(tmp_path):
    assert ensure_synthetic("synth-snemi3d", tmp_path, 3, seed=0) is True
    assert ensure_synthetic("synth-snemi3d", tmp_path, 3, seed=0) is False  # already there
    with pytest.raises(DataError, match="--overwrite"):
        ensure_synthetic("synth-snemi3d", tmp_path, 4, seed=0)
    assert ensure_synthetic("synth-snemi3d", tmp_path, 4, seed=0, regenerate=True) is True
    assert len(read_snemi3d(tmp_path)) == 4
    with pytest.raises(DataError, match="at least 3"):
        ensure_synthetic("synth-drive", tmp_path, 2, seed=0)
