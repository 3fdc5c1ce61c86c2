"""Literal, slow recipes of the three precomputed maps (docs/BASELINES.md §3.7–§3.9).

These are the test oracles for the production generators of :mod:`losses.maps`. They do
exactly what the spec writes, with no cleverness: one full-image distance transform
(and, for Skea-topo, one full-image Lee skeleton) per connected component, and a
``K × H × W`` stack of distances. They are O(K·H·W) in time and memory on purpose; keep
them small in tests (the 1024² comparison lives in ``scripts/bench_maps.py``).

Every function takes a ``(H, W)`` mask with 1 = class 1 and returns float64 maps.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label
from skimage.morphology import skeletonize

_SQUARE3 = np.ones((3, 3), dtype=bool)


def _class0_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected class-0 components, labelled 1..K in raster order (0 = class 1)."""
    labels, k = label(np.asarray(mask) == 0, connectivity=1, background=0, return_num=True)
    return labels, int(k)


def _distance_stack(labels: np.ndarray, k: int) -> np.ndarray:
    """``(K, H, W)`` float64: ``D_k`` = full-image EDT to component ``k`` (the repo's array)."""
    return np.stack([ndi.distance_transform_edt(labels != i) for i in range(1, k + 1)])


def oracle_wce_map(mask: np.ndarray) -> np.ndarray:
    """U-Net map of §3.7, literal: ``10·exp(−u²/50)·[g=1]`` with the ≤ 2-component rule.

    K = 0 (no class-0 pixel) crashes in the repo; here the distances are +inf and the
    map is all zeros, the same definition as the production generator.
    """
    g = np.asarray(mask) != 0
    labels, k = _class0_components(g)
    if k == 0:
        return np.zeros(g.shape)
    if k > 2:
        d = _distance_stack(labels, k)
        d.sort(axis=0)  # in place: the K×H×W stack is the repo's memory cost, not twice it
        u = d[0] + d[1]
    else:
        # Repo quirk: with ≤ 2 components only component #1 counts, u = 2·D_1.
        u = 2.0 * ndi.distance_transform_edt(labels != 1)
    return 10.0 * np.exp(-(u**2) / 50.0) * g


def oracle_abw_map(mask: np.ndarray) -> np.ndarray:
    """ABW map of §3.8, literal per-region loop: ``(2, H, W)`` as [bck, obj]."""
    g = np.asarray(mask) != 0
    dist = ndi.distance_transform_edt(~g)  # scipy's virtual zero when g is all zero
    labels, k = _class0_components(g)
    bck = np.ones(g.shape)
    obj = np.where(g, 30.0, 0.0)
    for i in range(1, k + 1):
        region = labels == i
        d_max = dist[region].max()
        s = d_max / 2.58
        obj[region] = 10.0 * np.exp(-(dist[region] ** 2) / (2 * s**2))
        bck[region] = 1.0 + 10.0 * np.exp(-((d_max - dist[region]) ** 2) / (2 * s**2))
    # Repo quirk: the bck channel is stored in float32.
    return np.stack([bck.astype(np.float32).astype(np.float64), obj])


def _lee(mask: np.ndarray) -> np.ndarray:
    return skeletonize(mask.astype(bool), method="lee").astype(bool)


def oracle_skea_topo_map(mask: np.ndarray) -> np.ndarray:
    """Skea-topo maps of §3.9, literal: ``(4, H, W)`` as [S0, S1, dilated bg skeleton, fg skeleton]."""
    g = np.asarray(mask) != 0
    h, w = g.shape
    labels, k = _class0_components(g)
    s0 = np.zeros((h, w))
    s1 = np.zeros((h, w))
    bg_skel = np.zeros((h, w), dtype=bool)
    if k == 0:
        # Repo quirk: an all-class-1 mask is treated as background everywhere for channel 2.
        bg_skel = _lee(np.ones((h, w), dtype=bool))
    for i in range(1, k + 1):
        obj = labels == i
        skel = _lee(obj)
        bg_skel |= skel
        if not skel.any():
            continue
        d0, (iy, ix) = ndi.distance_transform_edt(~skel, return_indices=True)
        d_obj = ndi.distance_transform_edt(obj)  # whole image: the border is not a boundary
        d1 = d_obj[iy, ix]
        d0 = np.minimum(d0, d1)
        s0[obj] = (1.0 - d0 / (d1 + 1e-20))[obj]
    if k > 0 and g.any():
        big_m = ndi.distance_transform_edt(g).max()
        d = _distance_stack(labels, k)
        d.sort(axis=0)
        d_1 = d[0]
        d_2 = d[1] if k > 1 else d[0]  # one object: d2 := d1
        val = np.maximum(0.0, 1.0 + (2 * big_m - d_1 - d_2 + 1e-20) / (2 * big_m + 1e-20))
        s1[g] = val[g]
    ch2 = ndi.binary_dilation(bg_skel, structure=_SQUARE3)
    ch3 = _lee(g)
    return np.stack([s0, s1, ch2.astype(np.float64), ch3.astype(np.float64)])
