"""Betti matching loss (Stucki et al., "Topologically faithful image segmentation via induced
matching of persistence barcodes", ICML 2023), docs/MODERN_LOSSES.md §betti_matching.

Official 2-D code: nstucki/Betti-matching @ 3e7eca26, ``loss_functions.py::BettiMatchingLoss`` →
``compute_BettiMatchingLoss`` → ``BettiMatching.py::BettiMatching(...).loss()``. The suite's term is
the authors' *training* call ``BettiMatchingLoss(relative=True, filtration='superlevel')`` (their
``configs/*_config.yaml``: RELATIVE True, FILTRATION superlevel) on ``x = l1 − l0``:

- per image, ``p = sigmoid(l1 − l0)`` (= ``softmax(logits)[:, 1]``) and ``y`` (the float target);
- ``comp = max(p, y)`` (comparison ``'union'``);
- each of ``p``, ``y``, ``comp`` is padded by one pixel set to its own maximum (``relative=True``) and
  filtered by superlevel sets of the V-construction cubical complex (pixels are vertices);
- barcodes of dims 0 and 1, image barcodes of ``p → comp`` and ``y → comp``, the two induced matchings,
  and intervals of ``p`` and ``y`` matched when both are matched to the same interval of ``comp``;
- loss = ``2·Σ_matched[(b−b')² + (d−d')²] + Σ_unmatched p (b−d)² + Σ_unmatched y (b−d)²``, the infinite
  death counting as 0; the batch loss is the mean over images.

Everything that decides *which* intervals exist and how they are matched is the official code's
total order of cells, reproduced exactly (``cell_filtration``): pixel values processed by exact
equality groups from the lowest to the highest, inside a group first the squares, then the edges,
then the vertices, each in row-major order of the pixel that claims them (the first pixel of the
group in row-major order that touches the cell) and, per pixel, in the official loop order. The
index of a cell counts down from the last cell, so a low index is early in the filtration. The
persistence pairs and the image pairs follow from that total order by the official union-find rules
(dual union-find for dim 1 over the squares and one outer cell, primal union-find for dim 0 over
the non-critical edges; image persistence with the births of one picture and the cells of ``comp``).

Reproduced quirks (each tested):

- zero-length intervals are dropped from the barcodes (``valid='positive'``: birth value strictly
  greater than death value), but the image barcodes keep them (``valid_image='all'``), so an image
  interval ending on a dropped interval matches nothing;
- the relative padding takes the picture's maximum: its gradient is ``torch.max``'s, shared evenly
  by the tied maxima of ``p``; every cell's value (and gradient) is that of the pixel that claims it;
- an empty target (all 0) or a full one (all 1) has one bar of ``y`` (the essential one, death 0):
  the loss is then ``2·(max p − y)²`` plus the unmatched bars of ``p``;
- the official code runs in float32 whatever the input (its ``ValueMap`` is ``torch.zeros``, and the
  padded picture is ``max * torch.ones(...)``). For float32 logits this module gives the official
  values and gradients; for float64 logits it works in float64 throughout (ties then decided on
  float64 values), which the official code cannot do, so that ``gradcheck`` can run.

The barcodes are computed on CPU with numpy (the order, the boundaries, the matching); the
union-find first contracts the "apparent" deaths with ``scipy.sparse.csgraph.connected_components``
and runs a Python loop only on the few edges left (``elder_merges``). Only the gather of the critical
values is a torch op, on the logits' device. gudhi and cripser are not used: their pairings follow
their own tie order, and the official matching depends on the official one (docs/MODERN_LOSSES.md
§betti_matching). Cost, one CPU thread, forward+backward: ≈0.08 s CPU time at 2×64² (official code
≈5 s), ≈0.6 s at 2×256², ≈2.8 s at 2×512² (a few hundred times cross-entropy: numpy passes over
the ≈1M cells of each of the three pictures of every image).

Official recipe (``loss_functions.py::DiceBettiMatchingLoss``, ``configs/*_config.yaml``):
MONAI 1.0 ``DiceLoss(sigmoid=True)`` (per image, smooth 1e-5) + ALPHA 0.5 × this term.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .base import SegLoss

#: Marker of the infinite death of the essential dim-0 bar (a cell index is never negative).
INF = -1

# Claim slots, in the official loop order (``set_CubeMap``, construction 'V'), as (k, l) offsets.
_SQUARE_SLOTS = ((-1, -1), (-1, 1), (1, -1), (1, 1))  # for k in [-1,1]: for l in [-1,1]
_EDGE_SLOTS = ((-1, 0), (0, -1), (1, 0), (0, 1))  # k=-1: vertical then horizontal; k=+1: same


@dataclass(frozen=True)
class CubicalGrid:
    """Geometry of the V-construction complex of an m × n picture, shared by every picture of
    that shape: cells are numbered by their flat position in the ``(2m−1) × (2n−1)`` cell grid.

    Attributes:
        kind: per position, 0 square, 1 edge, 2 vertex.
        square_pos, square_pix: positions of the squares and their four pixels (row-major).
        edge_pos, edge_pix, edge_slots: positions of the edges, their two pixels (row-major) and
            the slot of the edge in the loop of each of them.
        vertex_pos: positions of the vertices (pixel ``k`` is the ``k``-th vertex).
        primal_ends: per position, the two vertex positions of an edge (``get_boundary``).
        dual_ends: per position, the two square positions beside an edge, ``size`` standing for the
            outer cell (``get_dual_boundary``).
    """

    size: int
    kind: np.ndarray
    square_pos: np.ndarray
    square_pix: np.ndarray
    edge_pos: np.ndarray
    edge_pix: np.ndarray
    edge_slots: np.ndarray
    vertex_pos: np.ndarray
    primal_ends: np.ndarray
    dual_ends: np.ndarray


@functools.lru_cache(maxsize=8)
def cubical_grid(m: int, n: int) -> CubicalGrid:
    """The :class:`CubicalGrid` of an ``m × n`` picture (cached per shape)."""
    big_m, big_n = 2 * m - 1, 2 * n - 1
    rows, cols = np.divmod(np.arange(big_m * big_n), big_n)
    odd_r, odd_c = rows % 2 == 1, cols % 2 == 1
    kind = np.where(odd_r & odd_c, 0, np.where(odd_r ^ odd_c, 1, 2))

    def pixels(where, offsets):
        return np.stack(
            [((rows[where] + dr) // 2) * n + (cols[where] + dc) // 2 for dr, dc in offsets], axis=1
        )

    square_pos, edge_pos = np.flatnonzero(kind == 0), np.flatnonzero(kind == 1)
    vertical = odd_r[edge_pos]  # (odd, even): pixels above/below, squares left/right
    up_down, left_right = pixels(edge_pos, [(-1, 0), (1, 0)]), pixels(edge_pos, [(0, -1), (0, 1)])
    # slot of the edge in its pixel's loop (_EDGE_SLOTS): below the upper pixel = 2, above the
    # lower one = 0; right of the left pixel = 3, left of the right one = 1
    slots = np.where(vertical[:, None], [[2, 0]], [[3, 1]])
    primal, dual = np.zeros((big_m * big_n, 2), np.int64), np.zeros((big_m * big_n, 2), np.int64)
    r, c = rows[edge_pos], cols[edge_pos]
    step_r, step_c = vertical.astype(np.int64), (~vertical).astype(np.int64)
    for k, sign in enumerate((-1, 1)):
        primal[edge_pos, k] = (r + sign * step_r) * big_n + c + sign * step_c
        rr, cc = r + sign * step_c, c + sign * step_r
        inside = (rr >= 0) & (rr < big_m) & (cc >= 0) & (cc < big_n)
        dual[edge_pos, k] = np.where(inside, rr * big_n + cc, big_m * big_n)
    return CubicalGrid(
        size=big_m * big_n,
        kind=kind,
        square_pos=square_pos,
        square_pix=pixels(square_pos, [(-1, -1), (-1, 1), (1, -1), (1, 1)]),
        edge_pos=edge_pos,
        edge_pix=np.where(vertical[:, None], up_down, left_right),
        edge_slots=slots,
        vertex_pos=np.flatnonzero(kind == 2),
        primal_ends=primal,
        dual_ends=dual,
    )


@dataclass(frozen=True)
class CellFiltration:
    """The official total order of the cells of one padded picture (m × n pixels).

    Attributes:
        index_map: ``(2m−1, 2n−1)`` int64, the official ``IndexMap`` (filtration index of each cell).
        claimer: ``(num_cubes,)`` int64, flat pixel index of the pixel whose value each cell index takes.
        values: ``(num_cubes,)`` the value of each cell index (the picture's dtype).
        coords: ``(num_cubes,)`` int64, flat position in ``index_map`` of each cell index.
        grid: the shape's :class:`CubicalGrid`.
    """

    index_map: np.ndarray
    claimer: np.ndarray
    values: np.ndarray
    coords: np.ndarray
    grid: CubicalGrid

    @property
    def num_cubes(self) -> int:
        return self.claimer.size

    @functools.cached_property
    def index_with_outer(self) -> np.ndarray:
        """Flat ``index_map`` with one more entry, ``num_cubes``, for the outer cell."""
        return np.append(self.index_map.ravel(), self.num_cubes)


def _claims(flat: np.ndarray, pix: np.ndarray) -> np.ndarray:
    """Column of the claiming pixel among each row of ``pix`` (pixels in row-major order).

    A cell is claimed by its pixel of lowest value (its group is processed first), ties going to the
    first in row-major order (``np.argmin`` returns the first minimum).
    """
    return np.argmin(flat[pix], axis=1)


def _assignment_sequence(
    flat: np.ndarray, pixel: np.ndarray, kind: np.ndarray, slot: np.ndarray
) -> np.ndarray:
    """Cells in the official assignment order: (value ↑, kind, claimer row-major ↑, slot ↑).

    Same order as ``np.lexsort((slot, pixel, kind, value))``, without sorting the cells: the pixels
    are sorted once (stable, so row-major inside a tie), each pixel's claimed cells are laid out as
    (4 squares, 4 edges, 1 vertex) by slot, and a stable sort by (tie group, kind) only reorders
    inside tie groups (already sorted runs elsewhere).
    """
    pixel_order = np.argsort(flat, kind="stable")
    sorted_values = flat[pixel_order]
    group = np.cumsum(np.r_[True, sorted_values[1:] != sorted_values[:-1]]) - 1
    position = np.empty(flat.size, dtype=np.int64)
    position[pixel_order] = np.arange(flat.size)
    column = np.where(kind == 0, slot, np.where(kind == 1, 4 + slot, 8))
    table = np.full(9 * flat.size, -1, dtype=np.int64)
    table[9 * position[pixel] + column] = np.arange(pixel.size)
    cells = table[table >= 0]
    key = group[position[pixel[cells]]] * 3 + kind[cells]
    return cells[np.argsort(key, kind="stable")]


def cell_filtration(picture: np.ndarray) -> CellFiltration:
    """Official V-construction superlevel order of a padded 2-D picture (``set_CubeMap``).

    Assignment runs from the lowest pixel value up; the counter starts at the last cell and counts
    down, so the filtration index is ``num_cubes − 1 −`` the position in the assignment sequence
    sorted by (value ↑, type: squares, edges, vertices, claimer row-major ↑, slot ↑). Slots follow
    the official loops: squares ``for k in [-1,1]: for l in [-1,1]``, edges per ``k`` the vertical
    one then the horizontal one.
    """
    grid = cubical_grid(*picture.shape)
    flat = picture.ravel()
    pixel = np.empty(grid.size, dtype=np.int64)
    slot = np.zeros(grid.size, dtype=np.int64)
    col = _claims(flat, grid.square_pix)
    pixel[grid.square_pos] = np.take_along_axis(grid.square_pix, col[:, None], 1)[:, 0]
    slot[grid.square_pos] = 3 - col  # pixel up-left (col 0) has the square at (+1, +1): slot 3
    col = _claims(flat, grid.edge_pix)
    pixel[grid.edge_pos] = np.take_along_axis(grid.edge_pix, col[:, None], 1)[:, 0]
    slot[grid.edge_pos] = np.take_along_axis(grid.edge_slots, col[:, None], 1)[:, 0]
    pixel[grid.vertex_pos] = np.arange(flat.size)
    sequence = _assignment_sequence(flat, pixel, grid.kind, slot)
    index = np.empty(grid.size, dtype=np.int64)
    index[sequence] = grid.size - 1 - np.arange(grid.size)
    coords = sequence[::-1].copy()  # cell position of index 0, 1, 2, ...
    claimer = pixel[coords]
    shape = (2 * picture.shape[0] - 1, 2 * picture.shape[1] - 1)
    return CellFiltration(index.reshape(shape), claimer, flat[claimer], coords, grid)


def _edge_boundaries(filt: CellFiltration, edges: np.ndarray, dual: bool, target: CellFiltration):
    """Boundary cells (indices in ``target``) of ``edges`` (indices in ``filt``).

    Primal: the two vertices of each edge. Dual: the two squares beside it, the outer cell
    (index ``target.num_cubes``) where the edge lies on the border (``get_dual_boundary``).
    """
    ends = (filt.grid.dual_ends if dual else filt.grid.primal_ends)[filt.coords[edges]]
    lookup = target.index_with_outer
    return lookup[ends[:, 0]], lookup[ends[:, 1]]


def _union_find(num_nodes: int, ends_a: list, ends_b: list, keep_max: bool) -> list:
    """Sequential union-find over edges in order; the dying birth of each merging edge, else −1.

    Each root is its component's birth (minimum id, or maximum with ``keep_max``), so the tree
    shape (union by rank in the official code) cannot change the result.
    """
    parent = list(range(num_nodes))
    dying = [-1] * len(ends_a)
    for k, (x, y) in enumerate(zip(ends_a, ends_b)):
        while parent[x] != x:
            parent[x] = x = parent[parent[x]]
        while parent[y] != y:
            parent[y] = y = parent[parent[y]]
        if x == y:
            continue
        if (x < y) == keep_max:
            x, y = y, x  # now x survives, y dies
        parent[y] = x
        dying[k] = y
    return dying


def _apparent_losers(num_nodes: int, ends_a: np.ndarray, ends_b: np.ndarray, keep_max: bool) -> np.ndarray:
    """Node dying at each edge that is the first edge of its loser, else −1 ("apparent pairs").

    At the first edge of a node, the node is alone; if it loses the elder rule against the other
    end itself (``keep_max``: a smaller id; else a larger one), it loses against that end's whole
    component, whose birth can only be older. So these deaths need no union-find. Loops (both ends
    in one component) never merge.
    """
    k = np.arange(ends_a.size)
    first = np.full(num_nodes, ends_a.size, dtype=np.int64)
    np.minimum.at(first, ends_a, k)
    np.minimum.at(first, ends_b, k)
    loser = np.maximum(ends_a, ends_b) if not keep_max else np.minimum(ends_a, ends_b)
    return np.where((first[loser] == k) & (ends_a != ends_b), loser, -1)


def _contract(num_nodes: int, loser: np.ndarray, winner: np.ndarray, keep_max: bool) -> np.ndarray:
    """Root (oldest id) of every node's tree of apparent deaths, ``scipy.sparse.csgraph`` components."""
    graph = coo_matrix((np.ones(winner.size), (loser, winner)), shape=(num_nodes, num_nodes))
    _, labels = connected_components(graph, directed=False)
    root = np.full(labels.max() + 1, -1 if keep_max else num_nodes, dtype=np.int64)
    (np.maximum if keep_max else np.minimum).at(root, labels, np.arange(num_nodes))
    return root[labels]


def elder_merges(num_nodes: int, ends_a: np.ndarray, ends_b: np.ndarray, keep_max: bool) -> np.ndarray:
    """Union-find over edges in the given order; the dying birth of each merging edge, else −1.

    Births are node ids: a component's birth is its minimum id (``keep_max=False``, primal ``UnionFind``)
    or its maximum id (``keep_max=True``, ``UnionFind(dual=True)``); a merge kills the other birth
    (``max`` of the two births, resp. ``min``), as in the official ``compute_dim0``/``compute_dim1``.

    Fast path, same result: the apparent deaths (``_apparent_losers``) are contracted with
    ``scipy.sparse.csgraph.connected_components``. Each tree of such deaths hangs from its oldest
    node (a loser is younger than the node it joins) and is complete before any other edge touches
    one of its nodes (a node joins at its first edge, after the node it joins), so the other edges
    see the same births between the trees' roots: the same problem on fewer nodes, repeated while it
    pays; the sequential union-find runs only on what is left.
    """
    ends_a, ends_b = np.asarray(ends_a, dtype=np.int64), np.asarray(ends_b, dtype=np.int64)
    dying = np.full(ends_a.size, -1, dtype=np.int64)
    live = np.arange(ends_a.size)
    nodes = np.arange(num_nodes)  # original id of each current node (increasing: order kept)
    while live.size > 256:
        used = np.zeros(num_nodes, dtype=bool)
        used[ends_a], used[ends_b] = True, True
        new_id = np.cumsum(used) - 1  # renumbering that keeps the order of the ids
        nodes, num_nodes = nodes[used], int(used.sum())
        ends_a, ends_b = new_id[ends_a], new_id[ends_b]
        loser = _apparent_losers(num_nodes, ends_a, ends_b, keep_max)
        apparent = loser >= 0
        if apparent.sum() < live.size // 8:
            break
        dying[live[apparent]] = nodes[loser[apparent]]
        winner = np.where(ends_a == loser, ends_b, ends_a)[apparent]
        root = _contract(num_nodes, loser[apparent], winner, keep_max)
        rest = ~apparent & (ends_a != ends_b)  # loops never merge
        live, ends_a, ends_b = live[rest], root[ends_a[rest]], root[ends_b[rest]]
    found = np.asarray(_union_find(num_nodes, ends_a.tolist(), ends_b.tolist(), keep_max), dtype=np.int64)
    dying[live] = np.where(found >= 0, nodes[found], -1)
    return dying


@dataclass(frozen=True)
class Barcode:
    """Valid intervals of one picture (``CubicalPersistence`` with ``get_critical_edges=True``).

    ``intervals[d]`` is an ``(k, 2)`` int64 array of (birth index, death index), ``INF`` for the
    essential death, in the official list order. ``critical`` are the edges that kill a square
    (decreasing index), ``non_critical`` the others (increasing index).
    """

    intervals: tuple[np.ndarray, np.ndarray]
    critical: np.ndarray
    non_critical: np.ndarray


def _valid(filt: CellFiltration, births: np.ndarray, deaths: np.ndarray) -> np.ndarray:
    """``valid='positive'`` for a superlevel filtration: value(birth) > value(death)."""
    return filt.values[births] > filt.values[deaths]


def barcode(filt: CellFiltration) -> Barcode:
    """Barcodes of dims 0 and 1 (``compute_dim1`` then ``compute_dim0``)."""
    edges = np.flatnonzero(filt.grid.kind[filt.coords] == 1)  # cell indices of the edges, increasing
    # Apparent dim-0 deaths are negative edges, never critical: the dual pass may skip them.
    a, b = _edge_boundaries(filt, edges, False, filt)
    negative = _apparent_losers(filt.num_cubes, a, b, keep_max=False)[::-1] >= 0
    down = edges[::-1]
    a, b = _edge_boundaries(filt, down[~negative], True, filt)
    dying = elder_merges(filt.num_cubes + 1, a, b, keep_max=True)
    merged = np.zeros(down.size, dtype=bool)
    merged[np.flatnonzero(~negative)[dying >= 0]] = True
    critical, squares = down[merged], dying[dying >= 0]
    keep = _valid(filt, critical, squares)
    dim1 = np.stack([critical[keep], squares[keep]], axis=1)
    non_critical = down[~merged][::-1]
    a, b = _edge_boundaries(filt, non_critical, False, filt)
    dying = elder_merges(filt.num_cubes, a, b, keep_max=False)
    merged = dying >= 0
    births, deaths = dying[merged], non_critical[merged]
    keep = _valid(filt, births, deaths)
    dim0 = np.concatenate([[[0, INF]], np.stack([births[keep], deaths[keep]], axis=1)]).astype(np.int64)
    return Barcode((dim0, dim1), critical, non_critical)


def image_intervals(filt: CellFiltration, bars: Barcode, filt_comp: CellFiltration, bars_comp: Barcode):
    """Image barcodes of ``picture → comp`` (``ImagePersistence(use_UnionFind=True)``, all intervals).

    Dim 0: births of ``picture``, the non-critical edges of ``comp`` in ``comp``'s order.
    Dim 1: the critical edges of ``picture`` in its order, squares (births) of ``comp``.
    """
    a, b = _edge_boundaries(filt_comp, bars_comp.non_critical, False, filt)
    dying = elder_merges(filt.num_cubes, a, b, keep_max=False)
    merged = dying >= 0
    dim0 = np.concatenate([[[0, INF]], np.stack([dying[merged], bars_comp.non_critical[merged]], axis=1)])
    a, b = _edge_boundaries(filt, bars.critical, True, filt_comp)
    dying = elder_merges(filt_comp.num_cubes + 1, a, b, keep_max=True)
    merged = dying >= 0
    dim1 = np.stack([bars.critical[merged], dying[merged]], axis=1)
    return dim0.astype(np.int64), dim1.astype(np.int64)


def _rows_of(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of each ``wanted`` value in the unique ``keys``, −1 where absent."""
    order = np.argsort(keys, kind="stable")
    pos = np.minimum(np.searchsorted(keys[order], wanted), max(keys.size - 1, 0))
    found = keys[order][pos] == wanted if keys.size else np.zeros(wanted.shape, dtype=bool)
    return np.where(found, order[pos] if keys.size else -1, -1)


def induced_matching(
    image: np.ndarray, bars: np.ndarray, bars_comp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``InducedMatching``: image interval (a, b) matches the bar of ``picture`` born at ``a`` and the
    bar of ``comp`` dying at ``b`` when both exist (births and deaths are unique, so the official
    "first in the list" is the only one). Returns (rows in ``bars_comp``, rows in ``bars``), image order.
    """
    rows = _rows_of(bars[:, 0], image[:, 0])
    rows_comp = _rows_of(bars_comp[:, 1], image[:, 1])
    ok = (rows >= 0) & (rows_comp >= 0)
    return rows_comp[ok], rows[ok]


@dataclass(frozen=True)
class Matching:
    """Per dim: matched rows ``(k, 2)`` (row in the bars of ``p``, row in the bars of ``y``) and bars."""

    matched: tuple[np.ndarray, np.ndarray]
    bars_p: tuple[np.ndarray, np.ndarray]
    bars_y: tuple[np.ndarray, np.ndarray]


def betti_matching(
    picture_p: np.ndarray, picture_y: np.ndarray
) -> tuple[Matching, CellFiltration, CellFiltration]:
    """``BettiMatching(p, y, comparison='union', filtration='superlevel', construction='V')`` on
    already padded pictures; returns the matching and the filtrations of ``p`` and ``y``.
    """
    filts = [cell_filtration(pic) for pic in (picture_p, picture_y)]
    # comp = max(p, y) of the *unpadded* pictures, padded with its own maximum
    comp = pad_with_max(np.maximum(picture_p[1:-1, 1:-1], picture_y[1:-1, 1:-1]))
    filt_comp = cell_filtration(comp)
    bars = [barcode(f) for f in filts]
    bars_comp = barcode(filt_comp)
    images = [image_intervals(f, b, filt_comp, bars_comp) for f, b in zip(filts, bars)]
    matched = []
    for dim in (0, 1):
        comp_p, rows_p = induced_matching(images[0][dim], bars[0].intervals[dim], bars_comp.intervals[dim])
        comp_y, rows_y = induced_matching(images[1][dim], bars[1].intervals[dim], bars_comp.intervals[dim])
        y_of_comp = np.full(len(bars_comp.intervals[dim]), -1, dtype=np.int64)
        y_of_comp[comp_y] = rows_y
        partner = y_of_comp[comp_p]  # BettiMatching.match: same comp bar, in the order of p's matches
        pairs = np.stack([rows_p[partner >= 0], partner[partner >= 0]], axis=1)
        matched.append(pairs)
    return Matching(tuple(matched), bars[0].intervals, bars[1].intervals), filts[0], filts[1]


def pad_with_max(picture: np.ndarray) -> np.ndarray:
    """``relative=True``: a one-pixel frame set to the picture's maximum."""
    return np.pad(picture, 1, constant_values=picture.max())


def pad_with_max_torch(picture: torch.Tensor) -> torch.Tensor:
    """The official padding as torch ops, ``max * ones`` then the interior: the frame's gradient goes
    through ``torch.max`` (shared evenly by tied maxima)."""
    m, n = picture.shape
    padded = torch.max(picture) * torch.ones((m + 2, n + 2), dtype=picture.dtype, device=picture.device)
    padded[1:-1, 1:-1] = picture
    return padded


def _bar_values(
    values: torch.Tensor, filt: CellFiltration, bars: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Birth and death values of ``bars`` gathered from the padded picture (``INF`` death → 0)."""
    births = torch.as_tensor(filt.claimer[bars[:, 0]], device=values.device)
    deaths = torch.as_tensor(filt.claimer[np.maximum(bars[:, 1], 0)], device=values.device)
    death_values = values[deaths] * torch.as_tensor(bars[:, 1] != INF, device=values.device)
    return values[births], death_values


def betti_matching_loss_image(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``BettiMatching(p, y, relative=True, ...).loss()`` of one ``(H, W)`` image, differentiable in ``p``."""
    padded_p, padded_y = pad_with_max_torch(p), pad_with_max_torch(y)
    with torch.no_grad():
        pic_p = padded_p.detach().cpu().numpy()
        pic_y = padded_y.detach().cpu().numpy()
    match, filt_p, filt_y = betti_matching(pic_p, pic_y)
    flat_p, flat_y = padded_p.reshape(-1), padded_y.reshape(-1)
    total = p.new_zeros(())
    for dim in (0, 1):
        bp, dp = _bar_values(flat_p, filt_p, match.bars_p[dim])
        by, dy = _bar_values(flat_y, filt_y, match.bars_y[dim])
        i, j = (torch.as_tensor(match.matched[dim][:, k], device=p.device) for k in (0, 1))
        unmatched_p = torch.ones(bp.shape[0], dtype=torch.bool, device=p.device)
        unmatched_p[i] = False
        unmatched_y = torch.ones(by.shape[0], dtype=torch.bool, device=p.device)
        unmatched_y[j] = False
        total = total + 2 * ((bp[i] - by[j]) ** 2 + (dp[i] - dy[j]) ** 2).sum()
        total = total + ((bp - dp)[unmatched_p] ** 2).sum() + ((by - dy)[unmatched_y] ** 2).sum()
    return total


class BettiMatchingLoss(SegLoss):
    """Betti matching loss (Stucki et al., ICML 2023; nstucki/Betti-matching @ 3e7eca26,
    ``loss_functions.py::BettiMatchingLoss(relative=True, filtration='superlevel')``).

    ``loss(logits, target)``: mean over images of the Betti matching loss of ``p = sigmoid(l1 − l0)``
    (the official input transform; equal to ``softmax(logits)[:, 1]``) against the target. Needs no
    maps: the barcodes are computed from ``p`` and the target on CPU. Only the superlevel filtration
    with relative padding and union comparison (the authors' training setting) is implemented.
    """

    required_maps = ()

    def compute(
        self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        p = torch.sigmoid(logits[:, 1] - logits[:, 0])
        y = target.to(p.dtype)
        losses = [betti_matching_loss_image(p[b], y[b]) for b in range(p.shape[0])]
        return torch.stack(losses).mean()
