"""SegmentationDataset (docs/ARCHITECTURE.md §3): shapes, dtypes, normalization, joint
augmentation of image/target/fov/maps, crops, full-size val/test, class weights, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import data.prepare as prepare
from data import DataError
from data.datasets import SegmentationDataset


def map_equal_to_target(mask):
    return mask.astype(np.float32)


def abw_target_and_inverse(mask):
    return np.stack([mask, 1 - mask]).astype(np.float32)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds")
    gens = {"wce": map_equal_to_target, "abw": abw_target_and_inverse}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prepare, "load_map_generators", lambda: gens)
        for name in ("synth-drive", "synth-glas"):
            rc = prepare.main(
                [
                    "--dataset",
                    name,
                    "--raw-root",
                    str(tmp / "raw"),
                    "--out-root",
                    str(tmp / "out"),
                    "--synth-samples",
                    "6",
                    "--maps",
                    "wce",
                    "abw",
                    "--workers",
                    "1",
                    "--no-progress",
                ]
            )
            assert rc == 0
    return tmp / "out"


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def test_val_item_shapes_dtypes_and_normalization(out):
    ds = SegmentationDataset(out / "synth-drive", "val", fold=0, maps=("wce", "abw"))
    assert not ds.augment and len(ds) == len(ds.indices) == len(ds.sample_ids) >= 1
    image, target, extras = ds[0]
    index = ds.indices[0]
    assert image.dtype == torch.float32 and image.shape == (3, 160, 160)
    assert target.dtype == torch.int64 and target.shape == (160, 160)
    assert (
        extras["index"].dtype == torch.int64 and extras["index"].ndim == 0 and int(extras["index"]) == index
    )
    assert extras["fov"].dtype == torch.bool and extras["fov"].shape == (160, 160)
    assert extras["wce"].shape == (1, 160, 160) and extras["abw"].shape == (2, 160, 160)
    raw = _png(out / "synth-drive" / "images" / f"{index:03d}.png").astype(np.float64) / 255
    meta = ds.metadata
    expected = (raw - np.array(meta["mean"])) / np.array(meta["std"])
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), expected, rtol=1e-5, atol=1e-5)
    mask = _png(out / "synth-drive" / "masks" / f"{index:03d}.png") > 0
    np.testing.assert_array_equal(target.numpy(), mask)
    n1 = mask.sum()
    n0 = mask.size - n1
    assert extras["class_weight"].dtype == torch.float32
    np.testing.assert_allclose(extras["class_weight"].numpy(), [1.0, n0 / n1], rtol=1e-6)


def test_test_split_full_size_and_instances(out):
    ds = SegmentationDataset(out / "synth-glas", "test", fold=1)
    sizes = {tuple(s["padded_size"]) for s in ds.metadata["samples"]}
    for i in range(len(ds)):
        image, target, extras = ds[i]
        assert tuple(target.shape) in sizes and image.shape[1:] == target.shape
        assert "fov" not in extras
        inst = ds.load_instances(i)
        assert inst.dtype == np.int32 and inst.shape == tuple(target.shape)
        np.testing.assert_array_equal(target.numpy(), inst == 0)  # GlaS: class 1 = non-gland
    assert SegmentationDataset(out / "synth-drive", "test", fold=0).load_instances(0) is None


def test_train_crop_and_override(out):
    ds = SegmentationDataset(out / "synth-glas", "train", fold=0, maps=("wce",))
    assert ds.augment and ds.crop == (112, 144)
    image, target, extras = ds[0]
    assert (
        image.shape == (3, 112, 144) and target.shape == (112, 144) and extras["wce"].shape == (1, 112, 144)
    )
    ds = SegmentationDataset(out / "synth-glas", "train", fold=0, crop=(64, 96))
    assert ds[0][0].shape == (3, 64, 96)
    full = SegmentationDataset(out / "synth-glas", "train", fold=0, augment=False)
    assert tuple(full[0][1].shape) == tuple(full.metadata["samples"][full.indices[0]]["padded_size"])
    too_big = SegmentationDataset(out / "synth-glas", "train", fold=0, crop=(1000, 1000))
    with pytest.raises(ValueError, match="larger than sample"):
        too_big[0]


def test_joint_augmentation_moves_everything_together(out):
    ds = SegmentationDataset(out / "synth-drive", "train", fold=0, maps=("wce", "abw"))
    plain = SegmentationDataset(out / "synth-drive", "train", fold=0, maps=("wce",), augment=False)
    ref_image, ref_target, ref_extras = plain[0]
    torch.manual_seed(0)
    flipped = 0
    for _ in range(12):
        image, target, extras = ds[0]
        # the map equals the target, the abw map is (target, 1 - target): any non-joint move breaks it
        np.testing.assert_array_equal(extras["wce"][0].numpy(), target.numpy())
        np.testing.assert_array_equal(extras["abw"][1].numpy(), 1 - target.numpy())
        candidates = [(ref_image, ref_target, ref_extras["fov"])]
        candidates += [(t.flip(-1), y.flip(-1), f.flip(-1)) for t, y, f in candidates]
        candidates += [(t.flip(-2), y.flip(-2), f.flip(-2)) for t, y, f in candidates]
        match = [
            k
            for k, (t, y, f) in enumerate(candidates)
            if torch.equal(t, image) and torch.equal(y, target) and torch.equal(f, extras["fov"])
        ]
        assert match, "image, target and fov were not transformed by the same flip"
        flipped += match[0] != 0
    assert 0 < flipped < 12  # flips happen, with p = 0.5 each


def test_default_collate_batches_extras(out):
    ds = SegmentationDataset(out / "synth-drive", "train", fold=0, maps=("wce",))
    images, targets, extras = next(iter(DataLoader(ds, batch_size=2)))
    assert images.shape == (2, 3, 160, 160) and targets.shape == (2, 160, 160)
    assert extras["class_weight"].shape == (2, 2) and extras["wce"].shape == (2, 1, 160, 160)
    assert extras["index"].shape == (2,)


def test_splits_cover_all_samples(out):
    root = out / "synth-drive"
    seen = []
    for fold in range(3):
        ids = {s: SegmentationDataset(root, s, fold).indices for s in ("train", "val", "test")}
        assert sorted(sum(ids.values(), [])) == list(range(6))
        seen += ids["test"]
    assert sorted(seen) == list(range(6))
    meta = json.loads((root / "metadata.json").read_text())
    assert SegmentationDataset(root, "val", 0).sample_ids == [
        meta["samples"][i]["id"] for i in SegmentationDataset(root, "val", 0).indices
    ]


def test_errors(out, tmp_path):
    root = out / "synth-drive"
    with pytest.raises(ValueError, match="split"):
        SegmentationDataset(root, "training", 0)
    with pytest.raises(ValueError, match="fold"):
        SegmentationDataset(root, "train", 3)
    with pytest.raises(DataError, match="--seed 5"):
        SegmentationDataset(root, "train", 0, seed=5)
    with pytest.raises(DataError, match="--maps skea_topo"):
        SegmentationDataset(root, "train", 0, maps=("skea_topo",))
    with pytest.raises(ValueError, match="unknown map"):
        SegmentationDataset(root, "train", 0, maps=("wcee",))
    with pytest.raises(DataError, match="metadata.json"):
        SegmentationDataset(tmp_path, "train", 0)
