"""CHASE_DB1 and STARE: the FOV rule on hand-made images, the replicas' raw formats, the readers'
errors, the processed layout with the second observer (masks2/), and DRIVE's 2nd_manual."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from data import DataError
from data.monuseg import MONUSEG_DIR
from data.prepare import main
from data.retina import (
    CHASE_DIR,
    FOV_MARGIN,
    STARE_DIR,
    fov_from_image,
    frame_level,
    read_chase_db1,
    read_stare,
    synth_fundus,
)


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _prepare(tmp, name: str, n: int) -> int:
    return main(
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


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """synth-chase_db1 and synth-stare, 4 samples each, prepared without maps."""
    tmp = tmp_path_factory.mktemp("retina")
    assert _prepare(tmp, "synth-chase_db1", 4) == 0
    assert _prepare(tmp, "synth-stare", 4) == 0
    return tmp


# ------------------------------------------------------------------------- FOV rule


def _disc_image(size=48, radius=18) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size // 2) ** 2 + (xx - size // 2) ** 2 <= radius**2
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 0] = np.where(disc, 200, 5)
    return image, disc


def test_fov_rule_fills_holes_and_drops_specks_and_spurs():
    image, disc = _disc_image()
    image[22:26, 22:26, 0] = 10  # dark lesion inside the FOV: filled
    image[2, 2, 0] = 255  # bright speck in the frame: removed by the opening
    image[24, 42:48, 0] = 255  # 1-pixel bright spur from the disc to the border: removed
    fov = fov_from_image(image)
    assert fov[22:26, 22:26].all()
    assert not fov[2, 2] and not fov[24, 44:].any()
    assert not (fov & ~disc).any()  # never outside the bright disc
    assert (ndimage.binary_erosion(disc) <= fov).all()  # at most the disc's outline is lost


def test_fov_threshold_is_strict_and_keeps_the_largest_component():
    image = np.zeros((30, 60, 3), np.uint8)
    image[5:25, 5:25, 0] = 40  # at the threshold: outside
    image[5:25, 35:58, 0] = 40 + 1  # above it: inside
    fov = fov_from_image(image, threshold=40, radius=0)  # no opening: it would round the corners
    assert fov[5:25, 35:58].all() and fov.sum() == 20 * 23
    image[5:25, 5:25, 0] = 250  # now two components: the larger (20x23) one wins
    image[5:10, 5:10, 0] = 0
    fov = fov_from_image(image, threshold=40, radius=0)
    assert fov[5:25, 35:58].all() and not fov[:, :30].any()


def test_default_threshold_is_the_corner_level_plus_margin():
    red = np.zeros((40, 40), np.uint8)
    red[:2, :2] = 7  # corner squares are 2x2 (5% of 40): 4 of their 16 values are 7, the rest 0
    # 99th percentile of 16 values (linear interpolation): 12 zeros, then 7s -> 7
    assert frame_level(red) == 7.0
    image = np.zeros((40, 40, 3), np.uint8)
    image[..., 0] = red
    image[10:30, 10:30, 0] = 7 + FOV_MARGIN  # at the threshold: no FOV
    with pytest.raises(DataError, match="no field of view"):
        fov_from_image(image)
    image[10:30, 10:30, 0] = 7 + FOV_MARGIN + 1
    assert fov_from_image(image, radius=0).sum() == 400


def test_fov_rule_errors():
    with pytest.raises(DataError, match="no field of view"):
        fov_from_image(np.full((20, 20, 3), 9, np.uint8))
    with pytest.raises(DataError, match="RGB uint8"):
        fov_from_image(np.zeros((20, 20), np.uint8))


@pytest.mark.parametrize("frame", [0.0, 15 / 255])
def test_fov_rule_recovers_the_replica_fov(frame):
    image, _, _, fov = synth_fundus(0, 1, (151, 175), frame)
    found = fov_from_image(image)
    iou = (found & fov).sum() / (found | fov).sum()
    assert iou > 0.97


# ---------------------------------------------------------------------- raw formats


def test_replica_raw_formats(prepared):
    chase = prepared / "raw" / "synthetic" / CHASE_DIR
    assert sorted(p.name for p in chase.iterdir())[:3] == [
        "Image_01L.jpg",
        "Image_01L_1stHO.png",
        "Image_01L_2ndHO.png",
    ]
    with Image.open(chase / "Image_02R.jpg") as im:
        assert im.format == "JPEG" and im.mode == "RGB" and im.size == (250, 240)
    with Image.open(chase / "Image_02R_2ndHO.png") as im:
        assert im.format == "PNG" and im.mode == "1" and im.size == (250, 240)
    stare = prepared / "raw" / "synthetic" / STARE_DIR
    assert (stare / "stare-images" / "im0001.ppm").read_bytes().startswith(b"P6\n175 151\n255\n")
    for sub, tag in (("labels-ah", "ah"), ("labels-vk", "vk")):
        assert (stare / sub / f"im0004.{tag}.ppm").read_bytes().startswith(b"P5\n175 151\n255\n")
    assert not (stare / "stare-images" / "im0005.ppm").exists()  # 4 samples: the first four real ids


def test_processed_layout_and_padding(prepared):
    for name, size, padding in (
        ("synth-chase_db1", [256, 256], [[8, 8], [3, 3]]),
        ("synth-stare", [160, 192], [[4, 5], [8, 9]]),
    ):
        out = prepared / "out" / name
        meta = json.loads((out / "metadata.json").read_text())
        assert meta["padded_size"] == size and meta["has_fov"] and meta["train_crop"] is None
        for sub in ("images", "masks", "masks2", "fov"):
            assert sorted(p.name for p in (out / sub).iterdir()) == [f"{i:03d}.png" for i in range(4)]
        assert not (out / "instances").exists()
        assert all(s["padding"] == padding for s in meta["samples"])
        assert [s["role"] for s in meta["samples"][0]["sources"]] == ["image", "mask", "mask2"]


def test_masks_are_the_two_observers_edge_padded(prepared):
    raw = prepared / "raw" / "synthetic" / STARE_DIR
    out = prepared / "out" / "synth-stare"
    widths = ((4, 5), (8, 9))
    for i, sid in enumerate(("im0001", "im0002")):
        ah = _png(raw / "labels-ah" / f"{sid}.ah.ppm")
        vk = _png(raw / "labels-vk" / f"{sid}.vk.ppm")
        assert not np.array_equal(ah, vk)  # two observers differ
        np.testing.assert_array_equal(_png(out / "masks" / f"{i:03d}.png"), np.pad(ah, widths, mode="edge"))
        np.testing.assert_array_equal(_png(out / "masks2" / f"{i:03d}.png"), np.pad(vk, widths, mode="edge"))
        fov = _png(out / "fov" / f"{i:03d}.png")
        image = _png(raw / "stare-images" / f"{sid}.ppm")
        np.testing.assert_array_equal(fov > 0, np.pad(fov_from_image(image), widths, mode="edge"))
    chase = prepared / "raw" / "synthetic" / CHASE_DIR
    first = _png(chase / "Image_01R_1stHO.png")  # bool, 1-bit
    np.testing.assert_array_equal(
        _png(prepared / "out" / "synth-chase_db1" / "masks" / "001.png") > 0,
        np.pad(first, ((8, 8), (3, 3)), mode="edge"),
    )


# ------------------------------------------------------------------------ reader errors


def _copy_tree(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_reader_errors(prepared, tmp_path):
    base = tmp_path / "raw"
    _copy_tree(prepared / "raw" / "synthetic" / CHASE_DIR, base / CHASE_DIR)
    _copy_tree(prepared / "raw" / "synthetic" / STARE_DIR, base / STARE_DIR)
    assert [s.id for s in read_chase_db1(base)] == ["Image_01L", "Image_01R", "Image_02L", "Image_02R"]
    (base / CHASE_DIR / "Image_02L_1stHO.png").unlink()
    with pytest.raises(DataError, match="Image_02L_1stHO.png"):
        read_chase_db1(base)
    vk = base / STARE_DIR / "labels-vk" / "im0003.vk.ppm"
    Image.fromarray(np.full((151, 175, 3), 255, np.uint8)).save(vk, format="PPM")  # P6: not single-channel
    with pytest.raises(DataError, match="single-channel"):
        read_stare(base)
    Image.fromarray(np.full((151, 175), 128, np.uint8), mode="L").save(vk, format="PPM")
    with pytest.raises(DataError, match="unexpected label values"):
        read_stare(base)
    import shutil

    shutil.rmtree(base / STARE_DIR / "labels-vk")  # the second observer is a separate download
    samples = read_stare(base)
    assert len(samples) == 4 and all(s.label2 is None for s in samples)


def test_records_know_the_new_folders(tmp_path):
    from data.registry import DATASETS

    for name, folder in (("chase_db1", CHASE_DIR), ("stare", STARE_DIR), ("monuseg", MONUSEG_DIR)):
        assert not DATASETS[name].present(tmp_path)
        (tmp_path / folder).mkdir(parents=True)
        assert DATASETS[name].present(tmp_path)


def test_missing_raw_data_names_the_download(tmp_path, capsys):
    rc = main(
        [
            "--dataset",
            "stare",
            "--raw-root",
            str(tmp_path),
            "--out-root",
            str(tmp_path / "out"),
            "--maps",
            "none",
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "STARE" in err and "clemson.edu" in err


# ------------------------------------------------------------------- DRIVE 2nd observer


def test_drive_second_observer_kept_where_present(tmp_path):
    assert _prepare(tmp_path, "synth-drive", 4) == 0  # the replica has no 2nd_manual
    assert not (tmp_path / "out" / "synth-drive" / "masks2").exists()
    test_dir = tmp_path / "raw" / "synthetic" / "DRIVE" / "Drive_source" / "test"
    first = _png(test_dir / "1st_manual" / "02_manual1.gif") > 0
    second = first.copy()
    second[:10] = ~second[:10]
    (test_dir / "2nd_manual").mkdir()
    im = Image.fromarray(second.astype(np.uint8), mode="P")  # palette indices 0/1, like the real files
    im.putpalette([0, 0, 0, 255, 255, 255])
    im.save(test_dir / "2nd_manual" / "02_manual2.gif")
    rc = main(
        [
            "--dataset",
            "synth-drive",
            "--raw-root",
            str(tmp_path / "raw"),
            "--out-root",
            str(tmp_path / "out2"),
            "--maps",
            "none",
            "--no-progress",
            "--synth-samples",
            "4",
        ]
    )
    assert rc == 0
    out = tmp_path / "out2" / "synth-drive"
    assert [p.name for p in (out / "masks2").iterdir()] == ["001.png"]
    padding = json.loads((out / "metadata.json").read_text())["samples"][1]["padding"]
    np.testing.assert_array_equal(_png(out / "masks2" / "001.png") > 0, np.pad(second, padding, mode="edge"))
    for sub in ("images", "masks", "fov"):  # the first observer's outputs do not change
        for i in range(4):
            np.testing.assert_array_equal(
                _png(out / sub / f"{i:03d}.png"),
                _png(tmp_path / "out" / "synth-drive" / sub / f"{i:03d}.png"),
            )
