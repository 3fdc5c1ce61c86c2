"""Precomputed per-pixel weight maps of the WCE, ABW and Skea-topo baselines.

Production versions of the recipes of docs/BASELINES.md §3.7 (U-Net/WCE), §3.8 (ABW)
and §3.9 (Skea-topo). They give the same values as the literal recipes (one full-image
distance transform per connected component and a ``K × H × W`` stack, kept as test
oracles in ``tests/map_oracles.py``) but in O(H·W) memory and far less time:

- Nearest and second-nearest object distances (WCE, Skea-topo S₁) are kept as two running
  ``(H, W)`` arrays. Each component's distance transform is computed only on a window
  ``bbox ± margin``: inside it the EDT is exact (every pixel of the component lies in its
  bounding box), outside it the distance is at least ``margin + 1``. So after one pass a
  pixel whose running second-nearest distance is ``≤ margin + 1`` is final; the pixels
  that are not (far from all but one object) are finished exactly, per remaining component,
  with a k-d tree of its boundary pixels (the nearest pixel of a set is always on its
  4-boundary) or, when they are many, one EDT over the box holding them and the component.
- Skea-topo's per-object work (Lee skeleton, nearest skeleton pixel, the object's own EDT)
  runs on the object's bounding box grown by one pixel, which provably gives the
  whole-image values (see :func:`_object_weight`).

Every generator takes a ``(H, W)`` mask with 1 = class 1 (bool or integer, values {0, 1})
and returns float32. :data:`MAP_GENERATORS` is the registry ``data/prepare.py`` calls.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.measure import label
from skimage.morphology import skeletonize

#: U-Net map constants (§3.7): w0 = 10, σ = 5 so 2σ² = 50.
WCE_W0 = 10.0
WCE_TWO_SIGMA_SQ = 50.0
#: ABW constants (§3.8): boundary weight 30, w0 = 10, σ_R = d_max / 2.58.
ABW_OBJ_WEIGHT = 30.0
ABW_W0 = 10.0
ABW_SIGMA_DIVISOR = 2.58
#: The 1e-20 guards of the Skea-topo generator (§3.9).
SKEA_TINY = 1e-20

#: Cost of one k-d tree query in EDT pixels (measured order of magnitude); it only picks the
#: cheaper of two exact methods in :func:`nearest_two_distances`.
EDT_PIXELS_PER_QUERY = 30

_CROSS = ndi.generate_binary_structure(2, 1)
_SQUARE3 = np.ones((3, 3), dtype=bool)


def as_binary_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    """Validate a ``(H, W)`` mask with values in {0, 1} (1 = class 1) and return it as bool."""
    arr = np.asarray(mask)
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{name} must be a non-empty 2-D (H,W) array, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(
            f"{name} must be a bool or integer (H,W) array with values in {{0,1}}, got {arr.dtype}"
        )
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        raise ValueError(
            f"{name} values must be in {{0,1}} (1 = class 1), found {np.unique(arr[bad])[:5].tolist()}; "
            "convert a {0,255} mask with `mask > 0`"
        )
    return arr == 1


def class0_components(g: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of class 0, labelled 1..K in raster order (0 on class 1).

    Raster order matters: the WCE ≤ 2-component rule uses component #1.
    """
    labels, k = label(~g, connectivity=1, background=0, return_num=True)
    return labels.astype(np.int32, copy=False), int(k)


def grow_box(box: tuple[slice, slice], margin: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    """``box`` grown by ``margin`` pixels on every side, clipped to the image."""
    (sy, sx), (h, w) = box, shape
    return (
        slice(max(sy.start - margin, 0), min(sy.stop + margin, h)),
        slice(max(sx.start - margin, 0), min(sx.stop + margin, w)),
    )


def _push_distance(b1: np.ndarray, b2: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert a new distance ``d`` into sorted running pairs ``b1 ≤ b2`` (same shapes)."""
    return np.minimum(b1, d), np.where(d < b1, b1, np.minimum(b2, d))


def _box_lower_bound(py: np.ndarray, px: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
    """Euclidean distance from points to the rectangle ``box``: a lower bound of the EDT to
    anything inside it."""
    sy, sx = box
    dy = np.maximum(np.maximum(sy.start - py, py - (sy.stop - 1)), 0)
    dx = np.maximum(np.maximum(sx.start - px, px - (sx.stop - 1)), 0)
    return np.sqrt(dy * dy + dx * dx)


def _boundary_points(labels: np.ndarray, index: int, box: tuple[slice, slice]) -> np.ndarray:
    """``(n, 2)`` coordinates of the pixels of component ``index`` with an in-image 4-neighbour
    outside it: the only pixels that can be the nearest one to a point outside."""
    win = grow_box(box, 1, labels.shape)
    obj = labels[win] == index
    # border_value=1: the image border is not "outside" (its pixels are never nearest to an
    # in-image point through it); the grown window supplies real outside neighbours elsewhere.
    inner = ndi.binary_erosion(obj, structure=_CROSS, border_value=1)
    ys, xs = np.nonzero(obj & ~inner)
    return np.column_stack([ys + win[0].start, xs + win[1].start])


def nearest_two_distances(
    labels: np.ndarray, k: int, where: np.ndarray, margin: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Distances to the nearest and second-nearest labelled component, exact on ``where``.

    Equals sorting the ``K × H × W`` stack of full-image EDTs ``D_k = edt(labels != k)``
    (§3.7 pseudo-code) and taking the two smallest, without ever holding it.

    Args:
        labels: ``(H, W)`` int labels 1..k (0 = no component).
        k: number of components (≥ 1).
        where: ``(H, W)`` bool, the pixels whose distances are wanted.
        margin: window margin of the first pass (speed only, never the values).

    Returns:
        ``(d1, d2)`` float64 ``(H, W)``; exact where ``where`` is set (``d2 = inf`` when
        k = 1), unspecified elsewhere.
    """
    shape = labels.shape
    best1 = np.full(shape, np.inf)
    best2 = np.full(shape, np.inf)
    boxes = ndi.find_objects(labels, max_label=k)
    windows = [grow_box(box, margin, shape) for box in boxes]
    for index, win in enumerate(windows, start=1):
        if not where[win].any():
            continue
        # Exact inside the window: all of component `index` lies inside its bbox.
        d = ndi.distance_transform_edt(labels[win] != index)
        best1[win], best2[win] = _push_distance(best1[win], best2[win], d)
    # Outside its window a component is ≥ margin + 1 away, so only pixels whose running
    # second distance exceeds that can still change. A window that was skipped above
    # held no `where` pixel, so it is never "seen" by one of these pixels either.
    py, px = np.nonzero(where & (best2 > margin + 1))
    if py.size == 0:
        return best1, best2
    b1, b2 = best1[py, px], best2[py, px]
    for index, (box, win) in enumerate(zip(boxes, windows), start=1):
        seen = (py >= win[0].start) & (py < win[0].stop) & (px >= win[1].start) & (px < win[1].stop)
        todo = ~seen & (_box_lower_bound(py, px, box) < b2)
        if not todo.any():
            continue
        ty, tx = py[todo], px[todo]
        region = (
            slice(min(box[0].start, int(ty.min())), max(box[0].stop, int(ty.max()) + 1)),
            slice(min(box[1].start, int(tx.min())), max(box[1].stop, int(tx.max()) + 1)),
        )
        area = (region[0].stop - region[0].start) * (region[1].stop - region[1].start)
        if area <= EDT_PIXELS_PER_QUERY * ty.size:
            # Many pending points: one EDT over the box holding them and the component
            # (exact, the component lies inside) is cheaper than a query per point.
            d = ndi.distance_transform_edt(labels[region] != index)[
                ty - region[0].start, tx - region[1].start
            ]
        else:
            tree = cKDTree(_boundary_points(labels, index, box))
            d, _ = tree.query(np.column_stack([ty, tx]), distance_upper_bound=float(b2[todo].max()))
        b1[todo], b2[todo] = _push_distance(b1[todo], b2[todo], d)
    best1[py, px], best2[py, px] = b1, b2
    return best1, best2


def wce_map(mask: np.ndarray) -> np.ndarray:
    """U-Net weight map of the WCE row (docs/BASELINES.md §3.7), ``(H, W)`` float32.

    ``10·exp(−u²/50)`` on class-1 pixels, 0 on class 0, with u = d₁ + d₂ (distances to the
    nearest and second-nearest 4-connected class-0 component) when K > 2.

    Repo quirks reproduced: with K ≤ 2 components u = 2·D₁ where D₁ is the distance to
    component #1 (raster order), whatever its distance; component #2 is ignored.
    K = 0 (no class-0 pixel) crashes in the repo; here there is no object, every distance is
    +inf and the map is all zeros.
    """
    g = as_binary_mask(mask)
    labels, k = class0_components(g)
    if k == 0:
        return np.zeros(g.shape, dtype=np.float32)
    if k > 2:
        d1, d2 = nearest_two_distances(labels, k, g)
        u = d1 + d2
    else:
        u = 2.0 * ndi.distance_transform_edt(labels != 1)
    out = np.zeros(g.shape, dtype=np.float64)
    out[g] = WCE_W0 * np.exp(-(u[g] ** 2) / WCE_TWO_SIGMA_SQ)
    return out.astype(np.float32)


def abw_map(mask: np.ndarray) -> np.ndarray:
    """ABW map (docs/BASELINES.md §3.8), ``(2, H, W)`` float32 as [bck, obj].

    D = EDT of each class-0 pixel to the nearest class-1 pixel (scipy's "virtual zero" at
    row −1, column 0 when there is no class-1 pixel, as in the repo). For each 4-connected
    class-0 region R with d_max = max_R D and σ = d_max/2.58:
    bck = 1 + 10·exp(−(d_max − D)²/(2σ²)) inside R, 1 elsewhere;
    obj = 30 on class 1 and 10·exp(−D²/(2σ²)) inside R (unused by the loss, kept as the repo
    stores it). One EDT and one per-label maximum: O(H·W) for any number of regions.
    """
    g = as_binary_mask(mask)
    dist = ndi.distance_transform_edt(~g)
    labels, k = class0_components(g)
    bck = np.ones(g.shape, dtype=np.float64)
    obj = np.where(g, ABW_OBJ_WEIGHT, 0.0)
    if k > 0:
        d_max = np.zeros(k + 1)
        np.maximum.at(d_max, labels.ravel(), dist.ravel())  # per-region max; label 0 is unused
        inside = labels > 0
        dm = d_max[labels[inside]]  # ≥ 1 on every class-0 pixel, so σ > 0
        two_s2 = 2.0 * (dm / ABW_SIGMA_DIVISOR) ** 2
        d = dist[inside]
        obj[inside] = ABW_W0 * np.exp(-(d**2) / two_s2)
        bck[inside] = 1.0 + ABW_W0 * np.exp(-((dm - d) ** 2) / two_s2)
    # Repo quirk: bck is float32 in the repo; the float32 output rounds both channels.
    return np.stack([bck, obj]).astype(np.float32)


def lee_skeleton(mask: np.ndarray) -> np.ndarray:
    """Lee skeleton of a 2-D mask as bool (scikit-image ≥ 0.19 returns bool, older 0/255; §3.9).

    The algorithm pads with zeros, so a crop that holds the whole mask gives the same skeleton.
    """
    return skeletonize(mask, method="lee").astype(bool, copy=False)


def _object_weight(
    labels: np.ndarray, index: int, box: tuple[slice, slice]
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """Skea-topo S₀ of one class-0 object and its Lee skeleton, on its bbox grown by 1 px.

    Returns ``(window, s0, skeleton)`` with ``s0``/``skeleton`` of the window's shape
    (``s0`` is 0 outside the object and for an object without skeleton).

    Why the window is exact: the Lee skeleton pads with zeros, so only the object matters.
    d₀ and the nearest skeleton pixel come from an EDT whose zeros (the skeleton) all lie
    inside. The object's own EDT d₁ must be the whole-image one (the image border is not a
    boundary): any in-image pixel outside the window projects onto the window's outer ring,
    which is outside the bbox, hence not in the object, and closer; where the window meets
    the image border there is nothing beyond. If the window is the whole image it is
    literally the whole-image EDT (scipy's virtual zero for an all-object image included).
    """
    win = grow_box(box, 1, labels.shape)
    obj = labels[win] == index
    skel = lee_skeleton(obj)
    s0 = np.zeros(obj.shape)
    if not skel.any():
        return win, s0, skel
    d0, (iy, ix) = ndi.distance_transform_edt(~skel, return_indices=True)
    d1 = ndi.distance_transform_edt(obj)[iy, ix]
    d0 = np.minimum(d0, d1)
    s0[obj] = 1.0 - d0[obj] / (d1[obj] + SKEA_TINY)
    return win, s0, skel


def skea_topo_map(mask: np.ndarray) -> np.ndarray:
    """Skea-topo maps (docs/BASELINES.md §3.9), ``(4, H, W)`` float32.

    Channels: [S₀ skeleton-aware weight of class-0 objects, S₁ border weight on class-1
    pixels, 3×3-dilated union of the objects' Lee skeletons, Lee skeleton of class 1].

    S₀ = 1 − min(d₀, d₁)/(d₁ + 1e-20) with d₀ the distance to the nearest skeleton pixel and
    d₁ the object's whole-image EDT at that pixel. S₁ = max(0, 1 + (2M − d₁ − d₂ + 1e-20) /
    (2M + 1e-20)) with M the largest distance of a class-1 pixel to class 0 and d₁, d₂ the
    nearest and second-nearest object distances (one object: d₂ := d₁).

    Repo quirks reproduced: an all-class-1 mask gets S₀ = S₁ = 0 and channel 2 = the dilated
    Lee skeleton of the whole image; an all-class-0 mask is one object whose EDT is scipy's
    virtual-zero result.
    """
    g = as_binary_mask(mask)
    shape = g.shape
    labels, k = class0_components(g)
    s0 = np.zeros(shape)
    s1 = np.zeros(shape)
    bg_skel = np.zeros(shape, dtype=bool)
    if k == 0:
        bg_skel = lee_skeleton(np.ones(shape, dtype=bool))
    for index, box in enumerate(ndi.find_objects(labels, max_label=k), start=1):
        win, s0_obj, skel = _object_weight(labels, index, box)
        s0[win] += s0_obj  # objects are disjoint, so adding writes each pixel once
        bg_skel[win] |= skel
    if k > 0 and g.any():
        big_m = ndi.distance_transform_edt(g).max()
        d1, d2 = nearest_two_distances(labels, k, g)
        if k == 1:
            d2 = d1
        s1[g] = np.maximum(0.0, 1.0 + (2 * big_m - d1[g] - d2[g] + SKEA_TINY) / (2 * big_m + SKEA_TINY))
    ch2 = ndi.binary_dilation(bg_skel, structure=_SQUARE3)
    ch3 = lee_skeleton(g)
    return np.stack([s0, s1, ch2, ch3]).astype(np.float32)


#: Registry used by ``data/prepare.py --maps``: name → generator ``(H,W) mask → float32 map``.
#: Channel count of each map, the one place for it: the data set serves ``maps/<name>`` as
#: ``(C,H,W)`` and the loss contract (:mod:`losses.base`) checks ``maps[name]`` as ``(B,C,H,W)``.
MAP_CHANNELS: dict[str, int] = {"wce": 1, "abw": 2, "skea_topo": 4}

MAP_GENERATORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "wce": wce_map,
    "abw": abw_map,
    "skea_topo": skea_topo_map,
}
