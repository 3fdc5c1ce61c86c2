"""Pure processing functions of the data layer (docs/METHOD.md §4.2-§4.5)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.segmentation import find_boundaries
from sklearn.model_selection import KFold, train_test_split

from data import DataError
from data.processing import (
    centred_padding,
    channel_moments,
    class_weights,
    dataset_mean_std,
    make_splits,
    pad,
    process_drive,
    process_glas,
    process_isbi2012,
    process_snemi3d,
    snemi3d_target,
)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((584, 565), ((12, 12), (5, 6))),  # DRIVE -> 608x576, docs/METHOD.md §4.3
        ((522, 775), ((11, 11), (12, 13))),  # GlaS -> 544x800
        ((512, 512), ((0, 0), (0, 0))),  # ISBI 2012 stays
        ((1024, 1024), ((0, 0), (0, 0))),  # SNEMI3D stays
        ((146, 141), ((7, 7), (9, 10))),  # synth-drive -> 160x160
    ],
)
def test_centred_padding(size, expected):
    assert centred_padding(size) == expected
    padded = [n + a + b for n, (a, b) in zip(size, expected)]
    assert all(n % 32 == 0 for n in padded)


def test_pad_modes():
    a = np.array([[1, 2], [3, 4]], np.uint8)
    edge = pad(a, ((1, 0), (0, 1)), "edge")
    np.testing.assert_array_equal(edge, [[1, 2, 2], [1, 2, 2], [3, 4, 4]])
    const = pad(np.dstack([a, a, a]), ((0, 1), (1, 0)), "constant", 255)
    assert const.shape == (3, 3, 3)
    assert (const[2] == 255).all() and (const[:, 0] == 255).all()
    with pytest.raises(ValueError, match="pad mode"):
        pad(a, ((1, 1), (1, 1)), "reflect")


@pytest.mark.parametrize(
    ("n1", "total", "expected"),
    [
        (10, 100, (1.0, 9.0)),
        (90, 100, (9.0, 1.0)),
        (50, 100, (1.0, 1.0)),
        (0, 100, (1.0, 1.0)),
        (100, 100, (1.0, 1.0)),
    ],
)
def test_class_weights(n1, total, expected):
    mask = np.zeros(total, bool)
    mask[:n1] = True
    assert class_weights(mask.reshape(10, -1)) == pytest.approx(expected)


def test_dataset_mean_std_by_hand():
    black, white = np.zeros((4, 4), np.uint8), np.full((2, 6), 255, np.uint8)
    mean, std = dataset_mean_std([channel_moments(black), channel_moments(white)])
    # mean of per-image means (0, 1) = 0.5; std = sqrt(mean(0 + 0.25, 0 + 0.25)) = 0.5
    np.testing.assert_allclose(mean, [0.5])
    np.testing.assert_allclose(std, [0.5])


def test_dataset_mean_std_equals_pooled_for_equal_sizes():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (8, 9, 3), dtype=np.uint8) for _ in range(5)]
    mean, std = dataset_mean_std([channel_moments(im) for im in images])
    allpix = np.stack(images).reshape(-1, 3) / 255.0
    np.testing.assert_allclose(mean, allpix.mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(std, allpix.std(0), rtol=0, atol=1e-12)
    assert mean.dtype == np.float64


def test_dataset_mean_std_weights_images_not_pixels():
    small, big = np.full((1, 1), 255, np.uint8), np.zeros((10, 10), np.uint8)
    mean, _ = dataset_mean_std([channel_moments(small), channel_moments(big)])
    assert mean[0] == pytest.approx(0.5)  # not 1/101
    with pytest.raises(DataError):
        dataset_mean_std([])


def test_splits_drive_sizes_and_partition():
    folds = make_splits(40, seed=0)
    assert sorted(len(f["test"]) for f in folds) == [13, 13, 14]
    assert all(len(f["val"]) == 6 for f in folds)
    assert sorted(len(f["train"]) for f in folds) == [20, 21, 21]
    tests = np.concatenate([f["test"] for f in folds])
    assert sorted(tests.tolist()) == list(range(40))
    for f in folds:
        parts = f["train"] + f["val"] + f["test"]
        assert sorted(parts) == list(range(40))


def test_splits_follow_sklearn_literally():
    folds = make_splits(40, seed=3)
    for f, (tr, te) in zip(folds, KFold(3, shuffle=True, random_state=3).split(np.arange(40))):
        train, val = train_test_split(tr, test_size=0.2, random_state=3)
        assert f == {"train": train.tolist(), "val": val.tolist(), "test": te.tolist()}
    assert make_splits(40, seed=0) != make_splits(40, seed=1)
    assert make_splits(40, seed=0) == make_splits(40, seed=0)


@pytest.mark.parametrize(
    ("n", "test", "trainval"), [(100, [33, 33, 34], (53, 14)), (165, [55, 55, 55], (88, 22))]
)
def test_splits_paper_sizes(n, test, trainval):
    folds = make_splits(n, 0)
    assert sorted(len(f["test"]) for f in folds) == test
    assert max(len(f["train"]) for f in folds) == trainval[0]
    assert {len(f["val"]) for f in folds} == {trainval[1]}


def test_splits_too_few_samples():
    with pytest.raises(DataError, match="3 folds"):
        make_splits(2, 0)


def test_snemi3d_target_thick_boundaries_and_unlabelled():
    labels = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [1, 1, 0, 2]])
    mask = snemi3d_target(labels)
    expected = np.array([[0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 1]], bool)
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(mask, find_boundaries(labels, connectivity=1, background=0) | (labels == 0))


def test_process_glas_pads_then_inverts():
    image = np.zeros((30, 40, 3), np.uint8)
    inst = np.zeros((30, 40), np.uint8)
    inst[5:10, 5:10] = 1
    inst[10:15, 5:10] = 2  # touching gland
    s = process_glas("train_1", image, inst, None)
    assert s.image.shape == (32, 64, 3) and s.padding == ((1, 1), (12, 12))
    assert (s.image[0] == 255).all() and (s.image[:, :12] == 255).all()
    assert s.instances.dtype == np.int32 and s.instances[0].max() == 0
    np.testing.assert_array_equal(s.mask, s.instances == 0)
    assert s.mask[0].all() and not s.mask[1 + 5, 12 + 5]  # padding is class 1, gland class 0
    assert set(np.unique(s.instances)) == {0, 1, 2}


def test_process_drive_edge_replication():
    image = np.arange(30 * 20 * 3, dtype=np.uint32).reshape(30, 20, 3).astype(np.uint8)
    manual = np.zeros((30, 20), np.uint8)
    manual[0, :] = 1  # palette-style 0/1 values: binarized with > 0
    fov = np.full((30, 20), 255, np.uint8)
    s = process_drive("01_test", image, manual, fov)
    assert s.image.shape == (32, 32, 3) and s.padding == ((1, 1), (6, 6))
    np.testing.assert_array_equal(s.image[0], s.image[1])  # top row replicated
    assert s.mask[0].all() and s.mask[1].all() and not s.mask[2].any()
    assert s.fov.all() and s.mask.dtype == bool


def test_process_isbi_and_snemi_keep_size():
    image = np.zeros((64, 64), np.uint8)
    label = np.full((64, 64), 255, np.uint8)
    label[10] = 0
    s = process_isbi2012("slice_00", image, label, None)
    assert s.padding == ((0, 0), (0, 0)) and s.mask[10].all() and s.mask.sum() == 64
    s = process_snemi3d("slice_000", image, np.ones((64, 64), np.uint32), None)
    assert not s.mask.any() and s.instances.dtype == np.int32
