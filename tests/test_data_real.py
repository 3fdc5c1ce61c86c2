"""Real DRIVE and ISBI 2012 from ../shared/data, prepared once per session (docs/METHOD.md §4)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from data.prepare import main
from data.processing import make_splits


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


@pytest.fixture(scope="session")
def drive_out(shared_data, tmp_path_factory):
    out_root = tmp_path_factory.mktemp("real")
    rc = main(
        [
            "--dataset",
            "drive",
            "--raw-root",
            str(shared_data),
            "--out-root",
            str(out_root),
            "--maps",
            "none",
            "--no-progress",
        ]
    )
    assert rc == 0
    return out_root / "drive"


@pytest.fixture(scope="session")
def isbi_out(shared_data, tmp_path_factory):
    out_root = tmp_path_factory.mktemp("real_isbi")
    rc = main(
        [
            "--dataset",
            "isbi2012",
            "--raw-root",
            str(shared_data),
            "--out-root",
            str(out_root),
            "--maps",
            "none",
            "--no-progress",
        ]
    )
    assert rc == 0
    return out_root / "isbi2012"


def test_drive_layout_and_sizes(drive_out):
    meta = json.loads((drive_out / "metadata.json").read_text())
    assert meta["num_samples"] == 40 and meta["padded_size"] == [608, 576] and meta["channels"] == 3
    assert meta["train_crop"] is None
    ids = [s["id"] for s in meta["samples"]]
    assert ids[:2] == ["01_test", "02_test"] and ids[20] == "21_training" and ids[-1] == "40_training"
    for sub in ("images", "masks", "fov"):
        assert sorted(p.name for p in (drive_out / sub).iterdir()) == [f"{i:03d}.png" for i in range(40)]
    assert not (drive_out / "instances").exists()
    img = _png(drive_out / "images" / "000.png")
    assert img.shape == (608, 576, 3) and img.dtype == np.uint8
    for s in meta["samples"]:
        assert s["original_size"] == [584, 565] and s["padding"] == [[12, 12], [5, 6]]


def test_drive_pixels_match_raw_edge_padded(drive_out, shared_data):
    raw = shared_data / "DRIVE" / "Drive_source" / "test"
    with Image.open(raw / "images" / "01_test.tif") as im:
        image = np.asarray(im.convert("RGB"))  # independent reader: Pillow, not tifffile
    with Image.open(raw / "1st_manual" / "01_manual1.gif") as im:
        manual = np.asarray(im)
    widths = ((12, 12), (5, 6))
    np.testing.assert_array_equal(
        _png(drive_out / "images" / "000.png"), np.pad(image, (*widths, (0, 0)), mode="edge")
    )
    mask = _png(drive_out / "masks" / "000.png")
    np.testing.assert_array_equal(mask, np.where(np.pad(manual, widths, mode="edge") > 0, 255, 0))
    # 29,440 vessel pixels in 01_manual1.gif (shared/data/SOURCES.md)
    assert np.count_nonzero(mask[12:-12, 5:-6]) == 29440


def test_drive_masks_and_fov_binary(drive_out):
    meta = json.loads((drive_out / "metadata.json").read_text())
    for i in (0, 25, 39):
        mask, fov = _png(drive_out / "masks" / f"{i:03d}.png"), _png(drive_out / "fov" / f"{i:03d}.png")
        assert set(np.unique(mask)) == {0, 255} and set(np.unique(fov)) == {0, 255}
        inner = fov[12:-12, 5:-6] > 0
        assert 0.67 < inner.mean() < 0.70  # FOV fraction 0.680-0.692 of the original image
        n1 = np.count_nonzero(mask)
        n0 = mask.size - n1
        assert meta["samples"][i]["class_weight"] == pytest.approx([1.0, n0 / n1])
        assert meta["samples"][i]["foreground_fraction"] == pytest.approx(n1 / mask.size)


def _pooled_mean_std(paths) -> tuple[np.ndarray, np.ndarray]:
    """Mean/std over every pixel of equal-size uint8 images from exact integer sums."""
    total = total_sq = count = 0
    for path in paths:
        x = _png(path).astype(np.int64)
        x = x.reshape(x.shape[0] * x.shape[1], -1)
        total, total_sq, count = total + x.sum(0), total_sq + (x * x).sum(0), count + x.shape[0]
    mean = total / count / 255.0
    return mean, np.sqrt(total_sq / count / 255.0**2 - mean**2)


def test_drive_statistics(drive_out):
    meta = json.loads((drive_out / "metadata.json").read_text())
    mean, std = _pooled_mean_std(drive_out / "images" / f"{i:03d}.png" for i in range(40))
    # all images have one size, so §4.3's formula equals the pooled mean/std of every pixel
    np.testing.assert_allclose(meta["mean"], mean, rtol=0, atol=1e-9)
    np.testing.assert_allclose(meta["std"], std, rtol=0, atol=1e-9)


def test_drive_splits_and_sources(drive_out, shared_data):
    splits = json.loads((drive_out / "splits.json").read_text())["splits"]
    assert splits["0"] == make_splits(40, 0)
    assert sorted(len(f["test"]) for f in splits["0"]) == [13, 13, 14]
    sums = dict(
        line.split()[::-1] for line in (shared_data / "SHA256SUMS").read_text().splitlines() if line.strip()
    )
    meta = json.loads((drive_out / "metadata.json").read_text())
    first = {src["role"]: src for src in meta["samples"][0]["sources"]}
    assert first["image"]["path"] == "DRIVE/Drive_source/test/images/01_test.tif"
    assert first["fov"]["path"] == "DRIVE/Drive_source/test/mask/01_test_mask.gif"
    for src in first.values():
        assert src["sha256"] == sums[src["path"]]
    assert meta["created_by"]["command"].startswith("python data/prepare.py --dataset drive")


def test_isbi2012(isbi_out):
    meta = json.loads((isbi_out / "metadata.json").read_text())
    assert meta["num_samples"] == 30 and meta["padded_size"] == [512, 512] and meta["channels"] == 1
    masks = np.stack([_png(isbi_out / "masks" / f"{i:03d}.png") for i in range(30)])
    assert masks.shape == (30, 512, 512) and set(np.unique(masks)) == {0, 255}
    assert abs((masks > 0).mean() - 0.220) < 0.001  # membrane fraction of the volume (SOURCES.md)
    assert _png(isbi_out / "images" / "000.png").shape == (512, 512)
    assert not (isbi_out / "fov").exists() and not (isbi_out / "instances").exists()
    mean, std = _pooled_mean_std(isbi_out / "images" / f"{i:03d}.png" for i in range(30))
    np.testing.assert_allclose(meta["mean"], mean, rtol=0, atol=1e-9)
    np.testing.assert_allclose(meta["std"], std, rtol=0, atol=1e-9)
