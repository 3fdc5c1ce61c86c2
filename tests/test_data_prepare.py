"""``data/prepare.py``: bad input (each case), atomic output, --overwrite, --seed, --dataset all,
and the --maps plumbing (worker processes, only missing maps computed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import data.prepare as prepare
from data.files import sha256_file
from data.prepare import main
from data.registry import ensure_synthetic

REPO = Path(__file__).resolve().parents[1]


def fake_wce(mask):
    return mask.astype(np.float32) * 2.0


def fake_abw(mask):
    return np.stack([mask, 1 - mask]).astype(np.float32)


def fake_skea(mask):
    return np.stack([mask] * 4).astype(np.float32)


def bad_shape(mask):
    return np.zeros((3, 3), np.float32)


def must_not_run(mask):
    raise AssertionError("an existing map was recomputed")


FAKE = {"wce": fake_wce, "abw": fake_abw, "skea_topo": fake_skea}


@pytest.fixture(scope="module")
def replica_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("replicas")
    ensure_synthetic("synth-drive", root, 3, seed=0)
    ensure_synthetic("synth-glas", root, 3, seed=0)
    ensure_synthetic("synth-snemi3d", root, 3, seed=0)
    return root


@pytest.fixture
def raw(tmp_path, replica_cache):
    """A raw root holding small DRIVE, GlaS and SNEMI3D layouts (copies of replicas) as if real."""
    root = tmp_path / "raw"
    for top in ("DRIVE", "GlaS", "snemi3d"):
        shutil.copytree(replica_cache / top, root / top)
    return root


def run(raw_root, out_root, *args):
    return main(["--raw-root", str(raw_root), "--out-root", str(out_root), "--no-progress", *args])


def digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def no_leftovers(out_root: Path) -> bool:
    return not out_root.exists() or not [p for p in out_root.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------------------ bad input


def test_unknown_dataset_did_you_mean(tmp_path, capsys):
    assert run(tmp_path, tmp_path / "out", "--dataset", "drvie", "--maps", "none") == 2
    err = capsys.readouterr().err
    assert "'drvie'" in err and "Did you mean 'drive'?" in err


@pytest.mark.parametrize(
    ("name", "expected", "source"),
    [
        ("drive", "DRIVE/Drive_source", "grand-challenge.org"),
        ("glas", "GlaS/Warwick_QU_Dataset", "Kaggle mirror"),
        ("snemi3d", "snemi3d", "Zenodo record 7142003"),
        ("isbi2012", "ISBI2012", "ISBI 2012"),
    ],
)
def test_missing_raw_folder_names_path_and_source(tmp_path, capsys, name, expected, source):
    assert run(tmp_path / "empty", tmp_path / "out", "--dataset", name, "--maps", "none") == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "empty" / expected) in err and source in err
    assert not (tmp_path / "out" / name).exists()


def test_truncated_file(raw, tmp_path, capsys):
    path = raw / "DRIVE" / "Drive_source" / "test" / "images" / "01_test.tif"
    path.write_bytes(path.read_bytes()[:300])
    assert run(raw, tmp_path / "out", "--dataset", "drive", "--maps", "none") == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and str(path) in err
    assert not (tmp_path / "out" / "drive").exists() and no_leftovers(tmp_path / "out")


def test_image_without_mask(raw, tmp_path, capsys):
    manual = raw / "DRIVE" / "Drive_source" / "test" / "1st_manual" / "01_manual1.gif"
    manual.unlink()
    assert run(raw, tmp_path / "out", "--dataset", "drive", "--maps", "none") == 2
    err = capsys.readouterr().err
    assert "01_test.tif" in err and "without its manual annotation" in err and str(manual) in err


def test_glas_image_without_annotation(raw, tmp_path, capsys):
    anno = raw / "GlaS" / "Warwick_QU_Dataset" / "train_1_anno.bmp"
    anno.unlink()
    assert run(raw, tmp_path / "out", "--dataset", "glas", "--maps", "none") == 2
    assert str(anno) in capsys.readouterr().err


def test_snemi3d_volume_without_labels(raw, tmp_path, capsys):
    (raw / "snemi3d" / "train-labels.tif").unlink()
    assert run(raw, tmp_path / "out", "--dataset", "snemi3d", "--maps", "none") == 2
    assert "train-labels.tif" in capsys.readouterr().err


def test_mismatched_sizes(raw, tmp_path, capsys):
    fov = raw / "DRIVE" / "Drive_source" / "training" / "mask" / "02_training_mask.gif"
    Image.fromarray(np.full((10, 12), 255, np.uint8), mode="L").save(fov, format="GIF", optimize=False)
    assert run(raw, tmp_path / "out", "--dataset", "drive", "--maps", "none") == 2
    err = capsys.readouterr().err
    assert str(fov) in err and "(10, 12)" in err and "(146, 141)" in err


def test_mismatched_volume_shapes(raw, tmp_path, capsys):
    tifffile.imwrite(raw / "snemi3d" / "train-labels.tif", np.ones((2, 128, 128), np.uint32))
    assert run(raw, tmp_path / "out", "--dataset", "snemi3d", "--maps", "none") == 2
    assert "does not match" in capsys.readouterr().err


def test_unexpected_label_values_drive(raw, tmp_path, capsys):
    manual = raw / "DRIVE" / "Drive_source" / "training" / "1st_manual" / "02_manual1.gif"
    values = np.zeros((146, 141), np.uint8)
    values[:5], values[5:10] = 128, 255
    Image.fromarray(values, mode="L").save(manual, format="GIF", optimize=False)
    assert run(raw, tmp_path / "out", "--dataset", "drive", "--maps", "none") == 2
    err = capsys.readouterr().err
    assert str(manual) in err and "unexpected label values [128]" in err


def test_unexpected_label_values_isbi(tmp_path, capsys):
    root = tmp_path / "raw" / "ISBI2012"
    root.mkdir(parents=True)
    tifffile.imwrite(root / "train-volume.tif", np.zeros((3, 32, 32), np.uint8), photometric="minisblack")
    labels = np.full((3, 32, 32), 255, np.uint8)
    labels[0, 0, 0] = 7
    tifffile.imwrite(root / "train-labels.tif", labels, photometric="minisblack")
    assert run(tmp_path / "raw", tmp_path / "out", "--dataset", "isbi2012", "--maps", "none") == 2
    err = capsys.readouterr().err
    assert "train-labels.tif" in err and "[7]" in err


def test_glas_rgb_annotation_is_rejected(raw, tmp_path, capsys):
    anno = raw / "GlaS" / "Warwick_QU_Dataset" / "testB_1_anno.bmp"
    with Image.open(anno) as im:
        Image.fromarray(np.dstack([np.asarray(im)] * 3), mode="RGB").save(anno, format="BMP")
    assert run(raw, tmp_path / "out", "--dataset", "glas", "--maps", "none") == 2
    err = capsys.readouterr().err
    assert str(anno) in err and "unexpected label values" in err


def test_bad_options_exit_nonzero(tmp_path):
    with pytest.raises(SystemExit) as exc:
        run(tmp_path, tmp_path, "--dataset", "drive", "--maps", "wcee")
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        run(tmp_path, tmp_path, "--dataset", "drive", "--workers", "0")
    assert exc.value.code == 2


def test_synthetic_under_read_only_raw_root(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if _can_write(ro):
            pytest.skip("running as a user who can write to read-only folders")
        assert run(ro, tmp_path / "out", "--dataset", "synth-drive", "--maps", "none") == 2
        assert "writable --raw-root" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


def _can_write(folder: Path) -> bool:
    try:
        (folder / "probe").write_text("x")
    except PermissionError:
        return False
    (folder / "probe").unlink()
    return True


# -------------------------------------------------------------------------- output rules


def test_raw_data_never_modified(raw, tmp_path):
    before = digests(raw)
    assert run(raw, tmp_path / "out", "--dataset", "drive", "glas", "snemi3d", "--maps", "none") == 0
    assert digests(raw) == before


def test_existing_output_kept_unless_overwrite(raw, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(raw, out, "--dataset", "drive", "--maps", "none") == 0
    marker = out / "drive" / "user-note.txt"
    marker.write_text("keep me")
    assert run(raw, out, "--dataset", "drive", "--maps", "none") == 0
    assert "kept existing output" in capsys.readouterr().out
    assert marker.is_file()
    assert run(raw, out, "--dataset", "drive", "--maps", "none", "--overwrite") == 0
    assert not marker.exists() and (out / "drive" / "metadata.json").is_file()
    assert no_leftovers(out)


def test_non_prepared_folder_needs_overwrite(raw, tmp_path, capsys):
    (tmp_path / "out" / "drive").mkdir(parents=True)
    assert run(raw, tmp_path / "out", "--dataset", "drive", "--maps", "none") == 2
    assert "--overwrite" in capsys.readouterr().err


def _fail_on_third(original):
    def write(folder, index, sample):
        if index == 2:
            raise RuntimeError("disk full (simulated)")
        original(folder, index, sample)

    return write


def test_failure_leaves_nothing_half_written(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(prepare, "write_sample", _fail_on_third(prepare.write_sample))
    with pytest.raises(RuntimeError, match="simulated"):
        run(raw, out, "--dataset", "drive", "--maps", "none")
    assert not (out / "drive").exists() and no_leftovers(out)


def test_failed_overwrite_keeps_old_output(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert run(raw, out, "--dataset", "drive", "--maps", "none") == 0
    before = digests(out / "drive")
    monkeypatch.setattr(prepare, "write_sample", _fail_on_third(prepare.write_sample))
    with pytest.raises(RuntimeError):
        run(raw, out, "--dataset", "drive", "--maps", "none", "--overwrite")
    assert digests(out / "drive") == before and no_leftovers(out)


def test_seed_adds_split_key(raw, tmp_path):
    out = tmp_path / "out"
    assert run(raw, out, "--dataset", "drive", "--maps", "none") == 0
    assert run(raw, out, "--dataset", "drive", "--maps", "none", "--seed", "7") == 0
    splits = json.loads((out / "drive" / "splits.json").read_text())["splits"]
    assert sorted(splits) == ["0", "7"] and splits["0"] != splits["7"]
    assert all(sorted(f["train"] + f["val"] + f["test"]) == [0, 1, 2] for f in splits["7"])


def test_all_means_present_raw_data(raw, tmp_path, capsys):
    shutil.rmtree(raw / "GlaS")
    assert run(raw, tmp_path / "out", "--dataset", "all", "--maps", "none") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["drive", "snemi3d"]
    assert "3 samples" in lines[0] and "160x160" in lines[0] and "mean [" in lines[0] and " s -> " in lines[0]
    assert run(tmp_path / "nothing", tmp_path / "out2", "--dataset", "all", "--maps", "none") == 2


def test_script_and_module_entry_points():
    for cmd in (
        [sys.executable, "data/prepare.py", "--help"],
        [sys.executable, "-m", "data.prepare", "--help"],
    ):
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        assert "--dataset" in res.stdout and "--synth-samples" in res.stdout


# ---------------------------------------------------------------------------------- maps


def test_maps_written_and_timed(raw, tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "load_map_generators", lambda: dict(FAKE))
    out = tmp_path / "out"
    assert run(raw, out, "--dataset", "drive", "--maps", "wce", "abw", "--workers", "1") == 0
    meta = json.loads((out / "drive" / "metadata.json").read_text())
    assert sorted(meta["maps"]) == ["abw", "wce"] and meta["maps"]["wce"]["seconds"] >= 0
    for i in range(3):
        mask = np.asarray(Image.open(out / "drive" / "masks" / f"{i:03d}.png")) > 0
        wce = np.load(out / "drive" / "maps" / "wce" / f"{i:03d}.npy")
        abw = np.load(out / "drive" / "maps" / "abw" / f"{i:03d}.npy")
        assert wce.dtype == np.float32 and wce.shape == (160, 160) and abw.shape == (2, 160, 160)
        np.testing.assert_array_equal(wce, 2.0 * mask)
        np.testing.assert_array_equal(abw[1], 1.0 - mask)


def test_only_missing_maps_are_added_without_overwrite(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(prepare, "load_map_generators", lambda: dict(FAKE))
    assert run(raw, out, "--dataset", "glas", "--maps", "wce", "--workers", "1") == 0
    wce_before = digests(out / "glas" / "maps" / "wce")
    monkeypatch.setattr(prepare, "load_map_generators", lambda: {**FAKE, "wce": must_not_run})
    # two worker processes: the pool path
    assert run(raw, out, "--dataset", "glas", "--maps", "wce", "skea_topo", "--workers", "2") == 0
    meta = json.loads((out / "glas" / "metadata.json").read_text())
    assert sorted(meta["maps"]) == ["skea_topo", "wce"] and meta["maps"]["skea_topo"]["workers"] == 2
    assert digests(out / "glas" / "maps" / "wce") == wce_before
    skea = np.load(out / "glas" / "maps" / "skea_topo" / "001.npy")
    mask = np.asarray(Image.open(out / "glas" / "masks" / "001.png")) > 0
    assert skea.shape == (4, *mask.shape)
    np.testing.assert_array_equal(skea[3], mask)
    assert no_leftovers(out / "glas" / "maps")


def test_bad_map_shape_is_an_error(raw, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(prepare, "load_map_generators", lambda: {**FAKE, "abw": bad_shape})
    assert run(raw, tmp_path / "out", "--dataset", "drive", "--maps", "abw", "--workers", "1") == 2
    err = capsys.readouterr().err
    assert "'abw'" in err and "(3, 3)" in err and "(2, 160, 160)" in err
    assert not (tmp_path / "out" / "drive").exists() and no_leftovers(tmp_path / "out")


def test_real_map_generators_on_a_small_set(raw, tmp_path):
    maps = pytest.importorskip("losses.maps")
    out = tmp_path / "out"
    assert run(raw, out, "--dataset", "snemi3d", "--workers", "1") == 0  # default: all three maps
    meta = json.loads((out / "snemi3d" / "metadata.json").read_text())
    assert sorted(meta["maps"]) == ["abw", "skea_topo", "wce"]
    mask = (np.asarray(Image.open(out / "snemi3d" / "masks" / "000.png")) > 0).astype(np.uint8)
    for name, shape in (("wce", (128, 128)), ("abw", (2, 128, 128)), ("skea_topo", (4, 128, 128))):
        stored = np.load(out / "snemi3d" / "maps" / name / "000.npy")
        assert stored.shape == shape and stored.dtype == np.float32
        np.testing.assert_array_equal(stored, maps.MAP_GENERATORS[name](mask))
