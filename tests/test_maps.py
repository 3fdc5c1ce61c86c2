"""Tests of the precomputed map generators (losses/maps.py, docs/BASELINES.md §3.7–§3.9).

Three kinds of check: golden values from the paper-time code, parity with the literal
O(K·H·W) recipes of tests/map_oracles.py on random and structured masks, and values
computed by hand on tiny masks (including the repo quirks).
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from scipy import ndimage as ndi

from data.synthetic import blob_mask, vessel_mask, voronoi_membrane_mask
from losses._map_oracles import (
    _distance_stack,
    oracle_abw_map,
    oracle_skea_topo_map,
    oracle_wce_map,
)
from losses.maps import (
    MAP_CHANNELS,
    MAP_GENERATORS,
    abw_map,
    class0_components,
    nearest_two_distances,
    skea_topo_map,
    wce_map,
)

TOL = 1e-4
ORACLES = {"wce": oracle_wce_map, "abw": oracle_abw_map, "skea_topo": oracle_skea_topo_map}
GOLDEN_KEYS = {"wce": "unet_map", "abw": "abw_map", "skea_topo": "skea_map"}


def _random_mask(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = rng.integers(8, 48, size=2)
    return (rng.random((h, w)) < rng.uniform(0.2, 0.8)).astype(np.uint8)


def _smooth_mask(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndi.gaussian_filter(rng.random((40, 56)), 3) > 0.5


def _two_components() -> np.ndarray:
    m = np.zeros((20, 30), dtype=np.uint8)
    m[:, 12:15] = 1  # a vertical membrane from border to border: K = 2
    return m


def _one_component_ring() -> np.ndarray:
    m = np.ones((24, 24), dtype=np.uint8)
    m[4:20, 4:20] = 0
    m[9:15, 9:15] = 1  # a square ring of class 0: one object with a hole
    return m


def _far_objects() -> np.ndarray:
    """Small objects far apart: most class-1 pixels need the exact far-distance pass."""
    m = np.ones((96, 80), dtype=bool)
    m[2:6, 3:7] = False
    m[80:90, 60:78] = False
    m[40:43, 0:2] = False
    m[0:3, 70:80] = False  # touching two image borders
    return m


STRUCTURED = {
    "empty": np.zeros((16, 20), dtype=np.uint8),
    "full": np.ones((16, 20), dtype=np.uint8),
    "two_components": _two_components(),
    "one_component_ring": _one_component_ring(),
    "far_objects": _far_objects(),
    "voronoi": voronoi_membrane_mask((96, 128), 25, seed=1),
    "voronoi_dense": voronoi_membrane_mask((64, 64), 40, seed=2),
    "blobs": blob_mask((80, 96), 8, seed=3),
    "vessels": vessel_mask((72, 72), 6, seed=4),
    "single_pixel_objects": np.pad(np.zeros((1, 1), dtype=np.uint8), 3, constant_values=1),
    "checker": (np.indices((12, 14)).sum(axis=0) % 2).astype(np.uint8),
}
STRUCTURED["vessels_inverted"] = ~STRUCTURED["vessels"]
STRUCTURED["three_rows"] = np.ones((18, 22), dtype=np.uint8)
STRUCTURED["three_rows"][[0, 8, 17], :] = 0


@pytest.mark.parametrize("name", sorted(MAP_GENERATORS))
@pytest.mark.parametrize("mask_name", ["membrane_128x160", "split2_64x96"])
def test_maps_match_golden(golden, name, mask_name):
    mask = golden[f"map__{mask_name}__mask"]
    expected = golden[f"map__{mask_name}__{GOLDEN_KEYS[name]}"]
    got = MAP_GENERATORS[name](mask)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("name", sorted(MAP_GENERATORS))
def test_maps_match_golden_loss_case(golden, name):
    key = {"wce": "case__unet_map", "abw": "case__abw_map", "skea_topo": "case__skea_map"}[name]
    for b, target in enumerate(golden["case__target"]):
        got = MAP_GENERATORS[name](target)
        expected = golden[key][b, 0] if name == "wce" else golden[key][b]
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("name", sorted(MAP_GENERATORS))
@pytest.mark.parametrize("mask_name", sorted(STRUCTURED))
def test_maps_match_oracle_structured(name, mask_name):
    mask = STRUCTURED[mask_name]
    got = MAP_GENERATORS[name](mask)
    expected = ORACLES[name](mask)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("seed", range(12))
def test_maps_match_oracle_random(seed):
    mask = _random_mask(seed) if seed % 2 else _smooth_mask(seed)
    for name, gen in MAP_GENERATORS.items():
        np.testing.assert_allclose(gen(mask), ORACLES[name](mask), rtol=0, atol=TOL, err_msg=name)


@pytest.mark.parametrize("margin", [0, 1, 3, 8, 200])
@pytest.mark.parametrize("mask_name", ["voronoi", "far_objects", "blobs", "vessels"])
def test_nearest_two_distances_exact_for_any_margin(margin, mask_name):
    """The window margin changes the work split (windows vs k-d tree), never the values."""
    g = np.asarray(STRUCTURED[mask_name], dtype=bool)
    labels, k = class0_components(g)
    stack = _distance_stack(labels, k)
    stack.sort(axis=0)
    d1, d2 = nearest_two_distances(labels, k, g, margin=margin)
    np.testing.assert_allclose(d1[g], stack[0][g], rtol=0, atol=1e-9)
    expected2 = stack[1][g] if k > 1 else np.full(g.sum(), np.inf)
    np.testing.assert_allclose(d2[g], expected2, rtol=0, atol=1e-9)


def test_wce_toy_check_of_the_spec():
    """docs/BASELINES.md §3.7: 9×9, three cells, 1-px membranes: d₁+d₂ = 2 → 9.2312, T-junction 1+√2 → 8.8997."""
    m = np.zeros((9, 9), dtype=np.uint8)
    m[4, :] = 1
    m[:4, 4] = 1
    w = wce_map(m)
    assert w[4, 0] == pytest.approx(9.2312, abs=1e-4)
    assert w[2, 4] == pytest.approx(9.2312, abs=1e-4)
    assert w[4, 4] == pytest.approx(8.8997, abs=1e-4)
    assert (w[m == 0] == 0).all()


def test_wce_two_components_use_component_one_only():
    """Repo quirk: with K ≤ 2, u = 2·D₁ with D₁ the distance to component #1 (raster order)."""
    m = np.array([[0, 1, 1, 1, 1, 1, 0]], dtype=np.uint8)
    w = wce_map(m)
    for col in range(1, 6):  # component #1 is column 0, even where column 6 is nearer
        assert w[0, col] == pytest.approx(10 * math.exp(-((2 * col) ** 2) / 50), rel=1e-6)


def test_wce_no_class0_component_is_all_zero():
    """K = 0 crashes in the repo; the defined result is an all-zero map (no object, distances +inf)."""
    w = wce_map(np.ones((5, 7), dtype=bool))
    assert w.shape == (5, 7) and w.dtype == np.float32 and not w.any()


def test_abw_hand_values_on_a_line():
    m = np.array([[1, 0, 0, 0, 1]], dtype=np.uint8)  # D = [0, 1, 2, 1, 0], d_max = 2
    bck, obj = abw_map(m)
    s = 2 / 2.58
    side = 1 + 10 * math.exp(-1 / (2 * s * s))
    np.testing.assert_allclose(bck, [[1, side, 11, side, 1]], rtol=1e-6)
    inner = 10 * math.exp(-1 / (2 * s * s))
    np.testing.assert_allclose(obj, [[30, inner, 10 * math.exp(-4 / (2 * s * s)), inner, 30]], rtol=1e-6)


def test_abw_all_zero_mask_uses_scipy_virtual_zero():
    """docs/BASELINES.md §3.8: obj 9.996 at (0,0) down to 0.359 at (63,63) on a 64×64 all-zero mask."""
    bck, obj = abw_map(np.zeros((64, 64), dtype=np.uint8))
    assert obj[0, 0] == pytest.approx(9.996, abs=1e-3)
    assert obj[63, 63] == pytest.approx(0.359, abs=1e-3)
    assert bck.max() == pytest.approx(11.0, abs=1e-5)


def test_abw_all_one_mask():
    bck, obj = abw_map(np.ones((6, 5), dtype=np.uint8))
    assert (bck == 1).all() and (obj == 30).all()


def test_skea_all_class1_mask_quirk():
    """All-class-1: S₀ = S₁ = 0, channel 3 and (dilated) channel 2 are skeletons of the whole image."""
    from skimage.morphology import skeletonize

    maps = skea_topo_map(np.ones((15, 21), dtype=np.uint8))
    skel = skeletonize(np.ones((15, 21), dtype=bool), method="lee")
    assert not maps[0].any() and not maps[1].any()
    np.testing.assert_array_equal(maps[3], skel)
    np.testing.assert_array_equal(maps[2], ndi.binary_dilation(skel, structure=np.ones((3, 3))))
    assert maps[2].any()


def test_skea_properties_on_membranes():
    m = voronoi_membrane_mask((64, 80), 12, seed=5)
    s0, s1, ch2, ch3 = skea_topo_map(m)
    assert (s0[m] == 0).all() and (s1[~m] == 0).all()
    assert s0.min() >= 0 and s0.max() <= 1 and s1.min() >= 0 and s1.max() <= 2
    # S₀ = 1 exactly on each object's skeleton (d₀ = 0); channel 2 holds its dilation.
    objects_skel = (s0 == 1) & ~m
    assert objects_skel.any() and ch2[objects_skel].all()
    assert set(np.unique(ch2)) <= {0, 1} and set(np.unique(ch3)) <= {0, 1}
    assert not ch3[~m].any()


def test_map_registry_and_channel_contract():
    assert set(MAP_GENERATORS) == set(MAP_CHANNELS)
    m = voronoi_membrane_mask((32, 48), 6, seed=0)
    for name, gen in MAP_GENERATORS.items():
        out = gen(m)
        expected = (32, 48) if MAP_CHANNELS[name] == 1 else (MAP_CHANNELS[name], 32, 48)
        assert out.shape == expected and out.dtype == np.float32


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float32])
def test_generators_accept_binary_dtypes(dtype):
    m = STRUCTURED["two_components"]
    for gen in MAP_GENERATORS.values():
        np.testing.assert_array_equal(gen(m.astype(dtype)), gen(m.astype(bool)))


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (np.zeros((2, 3, 4), dtype=np.uint8), ValueError, "2-D"),
        (np.zeros((0, 4), dtype=np.uint8), ValueError, "non-empty"),
        (np.full((3, 3), 255, dtype=np.uint8), ValueError, "mask > 0"),
        (np.array([["a", "b"]]), TypeError, "bool or integer"),
    ],
)
def test_generators_reject_bad_masks(bad, error, words):
    for gen in MAP_GENERATORS.values():
        with pytest.raises(error, match=words):
            gen(bad)


@pytest.mark.parametrize("name", ["wce", "skea_topo"])
def test_memory_does_not_grow_with_the_number_of_cells(name):
    """O(H·W) memory: the peak per pixel stays bounded as K grows (the oracle needs 8·K bytes/px)."""
    peaks = []
    for cells in (20, 160):
        m = voronoi_membrane_mask((128, 128), cells, seed=7)
        tracemalloc.start()
        MAP_GENERATORS[name](m)
        peaks.append(tracemalloc.get_traced_memory()[1] / m.size)
        tracemalloc.stop()
    assert max(peaks) < 200, peaks  # bytes per pixel; 160 cells in a K×H×W float64 stack = 1280
