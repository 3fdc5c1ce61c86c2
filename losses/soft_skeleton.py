"""Fast soft skeleton (clDice's iterated min/max-pool skeleton) with the reference's exact values and gradients.

The soft skeleton of Shit et al. (clDice, CVPR 2021; jocpae/clDice ``cldice_loss/pytorch/soft_skeleton.py``) is
used with the same definition by clDice, clCE (cesaracebes/centerline_CE @ 952a7c41,
``retina_experiments/utils/loss_factory.py::soft_skel``) and cbDice (PengchengShi1220/cbDice @ a970c1d4,
``loss/soft_skeleton.py::SoftSkeletonize``); only the iteration count differs (docs/MODERN_LOSSES.md §clce, §cbdice):

- ``erode(x) = min(minpool_{3×1}(x), minpool_{1×3}(x))`` (the image border does not erode);
- ``dilate(x) = maxpool_{3×3}(x)``;
- ``skel = relu(x − dilate(erode(x)))``; then ``num_iter`` times ``x ← erode(x)``,
  ``δ = relu(x − dilate(erode(x)))``, ``skel ← skel + relu(δ − skel·δ)``.

The references call ``F.max_pool2d``, whose CPU kernel costs ~10 ms per 512² plane on one thread (about a
hundred times an elementwise op). Here every pool is a 3-wide max or min of shifted views
(:func:`_pool3_values`), and the 3×3 max-pool is two such passes (horizontal, then vertical). Values are
bit-identical (max and min are exact). Gradients follow ``max_pool2d``'s rule: the whole output
gradient goes to the first extremum of the window (row-major order, so horizontal first then vertical
reproduces it), accumulated over the outputs in increasing order; ``torch.minimum`` keeps its own rule
(ties split in halves), exactly as in the references.

On CPU float tensors, when numba is installed (a requirement; the tensor passes stay as the fallback and as
the definition the kernels are tested against), each pool's forward and backward run as compiled row loops
(:mod:`losses._skeleton_kernels`) that make the same comparisons, 0/1 products and sums in the same order:
values and gradients equal the tensor passes' bit for bit (``tests/test_soft_skeleton.py``), at about half
the time of the whole soft skeleton (a dozen full-plane passes per pool become two or three loops).
"""

from __future__ import annotations

import threading

import numpy as np
import torch
import torch.nn.functional as F

try:  # compiled pool kernels (same values and gradients, several times faster on CPU)
    from . import _skeleton_kernels as _kernels
except ImportError:  # numba missing: the tensor passes below do the same work
    _kernels = None

#: Use the compiled kernels for CPU float tensors when numba is installed (tests turn it off to compare).
USE_KERNELS = True


def _pool3_values(x: torch.Tensor, dim: int, take_min: bool) -> torch.Tensor:
    """3-wide max (or min) along ``dim``, stride 1; the padding is never picked (``max_pool2d``'s ``−inf``)."""
    n = x.shape[dim]
    extremum = torch.minimum if take_min else torch.maximum
    out = x.clone()
    if n > 1:
        with_left = out.narrow(dim, 1, n - 1)  # outputs 1..n−1 also see their left neighbour
        extremum(with_left, x.narrow(dim, 0, n - 1), out=with_left)
        with_right = out.narrow(dim, 0, n - 1)  # outputs 0..n−2 also see their right neighbour
        extremum(with_right, x.narrow(dim, 1, n - 1), out=with_right)
    return out


def _pool3_masks(
    x: torch.Tensor, out: torch.Tensor, dim: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """0/1 float masks of the windows whose first extremum is the left (i−1), centre (i) or right (i+1) element.

    First-index rule of ``max_pool2d``'s CPU kernel (``val > maxval`` replaces, so a tie keeps the
    earliest element). Float masks written by ``torch.eq(..., out=float)`` are several times faster
    here than boolean ones.
    """
    n = x.shape[dim]
    left = torch.empty_like(x)
    left.narrow(dim, 0, 1).zero_()
    torch.eq(x.narrow(dim, 0, n - 1), out.narrow(dim, 1, n - 1), out=left.narrow(dim, 1, n - 1))
    centre = torch.eq(x, out, out=torch.empty_like(x))
    torch.gt(centre, left, out=centre)  # centre and not left
    right = torch.eq(left, centre, out=torch.empty_like(x))  # neither (left, centre are exclusive)
    return left, centre, right


def _pool3_backward(
    grad: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor, torch.Tensor], dim: int
) -> torch.Tensor:
    """Route each output gradient to its window's first extremum (masks of :func:`_pool3_masks`).

    Input j receives from outputs j−1 (right pick), j (centre), j+1 (left pick), summed in this
    order, as ``max_pool2d``'s backward does (its first term is added to 0); products with 0/1
    masks are exact, so the sums round as the reference's.
    """
    left, centre, right = masks
    n = grad.shape[dim]
    grad_in = grad * centre
    if n > 1:
        grad_in.narrow(dim, 1, n - 1).addcmul_(grad.narrow(dim, 0, n - 1), right.narrow(dim, 0, n - 1))
        grad_in.narrow(dim, 0, n - 1).addcmul_(grad.narrow(dim, 1, n - 1), left.narrow(dim, 1, n - 1))
    return grad_in


def _compiled(x: torch.Tensor) -> bool:
    return (
        USE_KERNELS
        and _kernels is not None
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.ndim >= 2
        and x.numel() > 0
    )


_WORK = threading.local()  # per thread: {(P, H, W, dtype): work array}, see _workspace


def _workspace(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The kernels' temporaries for planes of ``shape``, allocated once per shape and thread."""
    cache = _WORK.__dict__.setdefault("arrays", {})
    key = (*shape, np.dtype(dtype).str)
    if key not in cache:
        if len(cache) >= 4:  # a few shapes per run (training crop, validation size): keep it bounded
            cache.clear()
        cache[key] = np.empty((_kernels.WORK_PLANES, *shape), dtype)
    return cache[key]


def _run_kernel(kernel, *tensors: torch.Tensor) -> torch.Tensor:
    """``kernel(*planes, out, work)`` on ``(P, H, W)`` numpy views of the tensors; returns ``out``."""
    first = tensors[0]
    out = torch.empty(first.shape, dtype=first.dtype)
    planes = [_array(t).reshape(-1, *t.shape[-2:]) for t in tensors]
    kernel(*planes, out.view(-1, *first.shape[-2:]).numpy(), _workspace(planes[0].shape, planes[0].dtype))
    return out


class _SoftErode(torch.autograd.Function):
    """``min(minpool_{3×1}(x), minpool_{1×3}(x))``; ``torch.min``'s ties split the gradient in halves."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)  # the masks are recomputed in backward: no new memory kept per call
        if _compiled(x):
            return _run_kernel(_kernels.erode_forward, x)
        return torch.minimum(_pool3_values(x, -2, take_min=True), _pool3_values(x, -1, take_min=True))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        if _compiled(x):
            return _run_kernel(_kernels.erode_backward, x, grad)
        vertical = _pool3_values(x, -2, take_min=True)
        horizontal = _pool3_values(x, -1, take_min=True)
        share = torch.empty_like(x)  # gradient share of the vertical pool: 1, ½ on ties, 0
        torch.lt(vertical, horizontal, out=share)
        tie = torch.empty_like(x)
        torch.eq(vertical, horizontal, out=tie)
        share.add_(tie, alpha=0.5)
        grad_vertical = grad * share
        grad_horizontal = grad - grad_vertical  # grad·(1 − share): exact for shares 0, ½, 1
        from_vertical = _pool3_backward(grad_vertical, _pool3_masks(x, vertical, -2), -2)
        return from_vertical + _pool3_backward(grad_horizontal, _pool3_masks(x, horizontal, -1), -1)


class _SoftDilate(torch.autograd.Function):
    """3×3 max-pool as a horizontal then a vertical pass: the first maximum in row-major order."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        if _compiled(x):
            return _run_kernel(_kernels.dilate_forward, x)
        return _pool3_values(_pool3_values(x, -1, take_min=False), -2, take_min=False)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        if _compiled(x):
            return _run_kernel(_kernels.dilate_backward, x, grad)
        horizontal = _pool3_values(x, -1, take_min=False)
        out = _pool3_values(horizontal, -2, take_min=False)
        grad_horizontal = _pool3_backward(grad, _pool3_masks(horizontal, out, -2), -2)
        return _pool3_backward(grad_horizontal, _pool3_masks(x, horizontal, -1), -1)


def _array(t: torch.Tensor):
    """A C-contiguous numpy view of a CPU tensor's values (a copy only when it is not contiguous)."""
    return t.detach().contiguous().numpy()


class _ReluDifference(torch.autograd.Function):
    """``relu(x − d)`` in one compiled loop; backward: ``grad·[out > 0]`` to ``x``, its negative to ``d``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        out = torch.empty(x.shape, dtype=x.dtype)
        _kernels.relu_difference_forward(_array(x), _array(d), out.numpy())
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (out,) = ctx.saved_tensors
        grad_x = torch.empty(out.shape, dtype=out.dtype)
        _kernels.relu_difference_backward(_array(out), _array(grad), grad_x.numpy())
        return grad_x, -grad_x


class _SkeletonUpdate(torch.autograd.Function):
    """``skel + relu(δ − skel·δ)`` in one compiled loop, with autograd's gradients (two-term sums)."""

    @staticmethod
    def forward(ctx, skel: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        out = torch.empty(skel.shape, dtype=skel.dtype)
        _kernels.skeleton_update_forward(_array(skel), _array(delta), out.numpy())
        ctx.save_for_backward(skel, delta)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skel, delta = ctx.saved_tensors
        grad_skel = torch.empty(skel.shape, dtype=skel.dtype)
        grad_delta = torch.empty(skel.shape, dtype=skel.dtype)
        arrays = (_array(skel), _array(delta), _array(grad), grad_skel.numpy(), grad_delta.numpy())
        _kernels.skeleton_update_backward(*arrays)
        return grad_skel, grad_delta


def _relu_difference(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return _ReluDifference.apply(x, d) if _compiled(x) else F.relu(x - d)


def _skeleton_update(skel: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    return _SkeletonUpdate.apply(skel, delta) if _compiled(skel) else skel + F.relu(delta - skel * delta)


def soft_erode(x: torch.Tensor) -> torch.Tensor:
    """``min(minpool_{3×1}(x), minpool_{1×3}(x))`` of ``(…, H, W)`` maps (border pixels see no padding)."""
    return _SoftErode.apply(x)


def soft_dilate(x: torch.Tensor) -> torch.Tensor:
    """3×3 max-pool, stride 1, padding 1, of ``(…, H, W)`` maps."""
    return _SoftDilate.apply(x)


def soft_skeleton(x: torch.Tensor, num_iter: int) -> torch.Tensor:
    """Soft skeleton of ``(…, H, W)`` maps in [0, 1] after ``num_iter`` erosions (definition above).

    ``erode(x)`` is both the inner step of ``open(x)`` and the next iteration's ``x``; it is computed
    once (the same values as the literal recipe, a third fewer passes).
    """
    if x.ndim > 2 and x[..., 0, 0].numel() > 1:
        # One plane at a time: a smaller working set per autograd chain (~20% faster on CPU, where
        # these passes are memory-bound); planes are independent, so values and gradients are unchanged.
        planes = x.reshape(-1, 1, *x.shape[-2:]).unbind(0)
        return torch.cat([_plane_soft_skeleton(plane, num_iter) for plane in planes]).reshape(x.shape)
    return _plane_soft_skeleton(x, num_iter)


def _plane_soft_skeleton(x: torch.Tensor, num_iter: int) -> torch.Tensor:
    """The iterations of :func:`soft_skeleton` on one tensor (any shape ``(…, H, W)``)."""
    eroded = soft_erode(x)
    skel = _relu_difference(x, soft_dilate(eroded))
    for _ in range(num_iter):
        x = eroded
        eroded = soft_erode(x)
        delta = _relu_difference(x, soft_dilate(eroded))
        skel = _skeleton_update(skel, delta)
    return skel


def _binary_erode(mask: torch.Tensor) -> torch.Tensor:
    """:func:`soft_erode` of a boolean map: AND over the 4-connected cross (missing neighbours ignored)."""
    out = mask.clone()
    for dim in (-2, -1):
        n = mask.shape[dim]
        if n > 1:
            out.narrow(dim, 1, n - 1).bitwise_and_(mask.narrow(dim, 0, n - 1))
            out.narrow(dim, 0, n - 1).bitwise_and_(mask.narrow(dim, 1, n - 1))
    return out


def _binary_dilate(mask: torch.Tensor) -> torch.Tensor:
    """:func:`soft_dilate` of a boolean map: OR over the 3×3 square, as two separable passes."""
    for dim in (-1, -2):
        n = mask.shape[dim]
        out = mask.clone()
        if n > 1:
            out.narrow(dim, 1, n - 1).bitwise_or_(mask.narrow(dim, 0, n - 1))
            out.narrow(dim, 0, n - 1).bitwise_or_(mask.narrow(dim, 1, n - 1))
        mask = out
    return mask


def binary_soft_skeleton(mask: torch.Tensor, num_iter: int) -> torch.Tensor:
    """:func:`soft_skeleton` of a binary map, as a boolean map (no autograd), ~10× faster.

    On values in {0, 1} every step of the soft skeleton stays in {0, 1}: erosion and dilation are the
    binary ones, ``relu(x − open(x))`` is ``x AND NOT open(x)`` (``open(x) ≤ x``) and
    ``skel + relu(δ − skel·δ)`` is ``skel OR δ``; so ``binary_soft_skeleton(m).float()`` equals
    ``soft_skeleton(m.float())`` exactly. Used for label skeletons and cbDice's hard-prediction skeleton.
    """
    mask = mask.bool()
    eroded = _binary_erode(mask)
    skel = mask & ~_binary_dilate(eroded)
    for _ in range(num_iter):
        mask = eroded
        eroded = _binary_erode(mask)
        skel |= mask & ~_binary_dilate(eroded)
    return skel
