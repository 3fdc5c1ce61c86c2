"""Compiled kernels of the soft skeleton's two pools, forward and backward (numba; CPU float32/float64).

They compute exactly what :mod:`losses.soft_skeleton`'s tensor passes compute, value for value and
gradient for gradient (same comparisons, same 0/1 products, same summation order; tested equal with
``torch.equal``), in a few row loops over the plane instead of a dozen full-plane passes:

- erode: ``min(v, h)`` with ``v`` the 3-tall and ``h`` the 3-wide min (missing neighbours ignored);
  backward splits the output gradient between ``v`` and ``h`` as ``torch.minimum`` does
  (``share = [v < h] + ½·[v = h]``, ``gv = g·share``, ``gh = g − gv``), routes each to the first
  minimum of its window (``max_pool2d``'s first-index rule), sums each input's three terms in the
  order centre, from the window before, from the window after, and returns ``vertical + horizontal``.
- dilate: 3-wide max then 3-tall max; backward routes through the vertical pass, then the horizontal.

A missing neighbour at the border is replaced by the centre itself, which changes no extremum; the
routing masks test it explicitly. Every kernel takes ``(P, H, W)`` C-contiguous arrays and loops over
the planes, with its full-plane temporaries in ``work`` (``(WORK_PLANES, P, H, W)``, reused from call to
call by the caller: fresh megabyte buffers cost page faults that would double the kernels' time). Not imported when numba is
missing: :mod:`losses.soft_skeleton` then runs its tensor passes.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = {"cache": True, "nogil": True, "fastmath": False}
#: Full-plane temporaries the kernels need in ``work`` (erode backward needs the most).
WORK_PLANES = 5


@numba.njit(**_JIT)
def _extremum3_vertical(x, out, take_min):
    """``out[i] = ext(x[i−1], x[i], x[i+1])`` over rows (missing rows ignored)."""
    planes, rows, cols = x.shape
    for p in range(planes):
        for i in range(rows):
            a, b, c = x[p, max(i - 1, 0)], x[p, i], x[p, min(i + 1, rows - 1)]
            o = out[p, i]
            if take_min:
                for j in range(cols):
                    o[j] = min(min(a[j], b[j]), c[j])
            else:
                for j in range(cols):
                    o[j] = max(max(a[j], b[j]), c[j])


@numba.njit(**_JIT)
def _extremum3_horizontal(x, out, take_min):
    """``out[:, j] = ext(x[:, j−1], x[:, j], x[:, j+1])`` over columns (missing columns ignored)."""
    planes, rows, cols = x.shape
    last = cols - 1
    for p in range(planes):
        for i in range(rows):
            r, o = x[p, i], out[p, i]
            if take_min:
                o[0] = min(r[0], r[min(1, last)])
                for j in range(1, last):
                    o[j] = min(min(r[j - 1], r[j]), r[j + 1])
                o[last] = min(r[max(last - 1, 0)], r[last])
            else:
                o[0] = max(r[0], r[min(1, last)])
                for j in range(1, last):
                    o[j] = max(max(r[j - 1], r[j]), r[j + 1])
                o[last] = max(r[max(last - 1, 0)], r[last])


@numba.njit(**_JIT)
def _route_vertical(x, pooled, grad, acc):
    """Backward of a 3-tall pool whose output is ``pooled``: ``acc`` = gradient at ``x``.

    Window ``i`` picks ``i−1`` when ``x[i−1] = pooled[i]`` (first index), else ``i`` when
    ``x[i] = pooled[i]``, else ``i+1``; input ``i`` sums ``g[i]·[centre] + g[i−1]·[right] + g[i+1]·[left]``.
    """
    planes, rows, cols = x.shape
    one = grad.dtype.type(1)
    zero = grad.dtype.type(0)
    left = np.empty(cols, grad.dtype)
    centre = np.empty(cols, grad.dtype)
    right_above = np.empty(cols, grad.dtype)  # the window above's "right" mask (picks this row)
    for p in range(planes):
        for i in range(rows):
            # masks of window i
            b, o = x[p, i], pooled[p, i]
            a = x[p, max(i - 1, 0)]
            has_a = i > 0
            for j in range(cols):
                lft = one if (has_a and a[j] == o[j]) else zero
                cen = one if (b[j] == o[j] and lft == zero) else zero
                left[j] = lft
                centre[j] = cen
            g, s = grad[p, i], acc[p, i]
            for j in range(cols):
                s[j] = g[j] * centre[j]
            if i > 0:
                g_above = grad[p, i - 1]
                for j in range(cols):
                    s[j] = s[j] + g_above[j] * right_above[j]
            # the window below's left mask: does window i+1 pick row i?
            if i < rows - 1:
                g_below, o_below = grad[p, i + 1], pooled[p, i + 1]
                for j in range(cols):
                    s[j] = s[j] + g_below[j] * (one if b[j] == o_below[j] else zero)
            for j in range(cols):  # this window's right mask, for the next row
                right_above[j] = one if (left[j] == zero and centre[j] == zero) else zero


@numba.njit(**_JIT)
def _route_horizontal(x, pooled, grad, acc):
    """Backward of a 3-wide pool along columns (the rule of :func:`_route_vertical`, one row at a time)."""
    planes, rows, cols = x.shape
    one = grad.dtype.type(1)
    zero = grad.dtype.type(0)
    left = np.empty(cols, grad.dtype)
    centre = np.empty(cols, grad.dtype)
    for p in range(planes):
        for i in range(rows):
            r, o, g, s = x[p, i], pooled[p, i], grad[p, i], acc[p, i]
            left[0] = zero
            for j in range(1, cols):
                left[j] = one if r[j - 1] == o[j] else zero
            for j in range(cols):
                centre[j] = one if (r[j] == o[j] and left[j] == zero) else zero
                s[j] = g[j] * centre[j]
            for j in range(1, cols):  # window j−1 picks j (its right) when it picks neither left nor centre
                s[j] = s[j] + g[j - 1] * (one if (left[j - 1] == zero and centre[j - 1] == zero) else zero)
            for j in range(cols - 1):  # window j+1 picks j (its left)
                s[j] = s[j] + g[j + 1] * left[j + 1]


@numba.njit(**_JIT)
def erode_forward(x, out, work):
    vertical = work[0]
    _extremum3_vertical(x, vertical, True)
    _extremum3_horizontal(x, out, True)
    flat_v, flat_o = vertical.ravel(), out.ravel()
    for k in range(flat_o.size):
        flat_o[k] = min(flat_v[k], flat_o[k])


@numba.njit(**_JIT)
def erode_backward(x, grad, out, work):
    """Gradient of :func:`erode_forward` at ``x`` for the output gradient ``grad``, into ``out``."""
    vertical, horizontal, grad_v, grad_h, from_h = work[0], work[1], work[2], work[3], work[4]
    _extremum3_vertical(x, vertical, True)
    _extremum3_horizontal(x, horizontal, True)
    one, half, zero = grad.dtype.type(1), grad.dtype.type(0.5), grad.dtype.type(0)
    fv, fh, fg = vertical.ravel(), horizontal.ravel(), grad.ravel()
    gv, gh = grad_v.ravel(), grad_h.ravel()
    for k in range(fg.size):
        share = (one if fv[k] < fh[k] else zero) + half * (one if fv[k] == fh[k] else zero)
        gv[k] = fg[k] * share
        gh[k] = fg[k] - gv[k]
    _route_vertical(x, vertical, grad_v, out)
    _route_horizontal(x, horizontal, grad_h, from_h)
    fo, ff = out.ravel(), from_h.ravel()
    for k in range(fo.size):
        fo[k] = fo[k] + ff[k]


@numba.njit(**_JIT)
def dilate_forward(x, out, work):
    horizontal = work[0]
    _extremum3_horizontal(x, horizontal, False)
    _extremum3_vertical(horizontal, out, False)


@numba.njit(**_JIT)
def dilate_backward(x, grad, out, work):
    """Gradient of :func:`dilate_forward`: through the vertical max onto the horizontal one, then onto ``x``."""
    horizontal, pooled, grad_horizontal = work[0], work[1], work[2]
    _extremum3_horizontal(x, horizontal, False)
    _extremum3_vertical(horizontal, pooled, False)
    _route_vertical(horizontal, pooled, grad, grad_horizontal)
    _route_horizontal(x, horizontal, grad_horizontal, out)


# ----------------------------------------------------------------------------- elementwise steps


@numba.njit(**_JIT)
def relu_difference_forward(x, d, out):
    """``out = relu(x − d)``: the subtraction rounded, then ``max(·, 0)``, as ``F.relu(x - d)``."""
    fx, fd, fo = x.ravel(), d.ravel(), out.ravel()
    zero = fo.dtype.type(0)
    for k in range(fo.size):
        t = fx[k] - fd[k]
        fo[k] = t if t > zero else zero


@numba.njit(**_JIT)
def relu_difference_backward(out, grad, grad_x):
    """``grad_x = grad·[out > 0]`` (relu's rule); the gradient of ``d`` is ``−grad_x``."""
    fo, fg, fx = out.ravel(), grad.ravel(), grad_x.ravel()
    zero = fg.dtype.type(0)
    for k in range(fo.size):
        fx[k] = fg[k] if fo[k] > zero else zero


@numba.njit(**_JIT)
def skeleton_update_forward(skel, delta, out):
    """``out = skel + relu(delta − skel·delta)``, each operation rounded as the tensor ops round it."""
    fs, fd, fo = skel.ravel(), delta.ravel(), out.ravel()
    zero = fo.dtype.type(0)
    for k in range(fo.size):
        u = fd[k] - fs[k] * fd[k]
        fo[k] = fs[k] + (u if u > zero else zero)


@numba.njit(**_JIT)
def skeleton_update_backward(skel, delta, grad, grad_skel, grad_delta):
    """Autograd's gradients of :func:`skeleton_update_forward`, two terms per input (order-free sums):

    ``du = grad·[u > 0]`` (``u = delta − skel·delta``); ``grad_delta = du + (−du)·skel``;
    ``grad_skel = grad + (−du)·delta``.
    """
    fs, fd, fg = skel.ravel(), delta.ravel(), grad.ravel()
    gs, gd = grad_skel.ravel(), grad_delta.ravel()
    zero = fg.dtype.type(0)
    for k in range(fg.size):
        u = fd[k] - fs[k] * fd[k]
        du = fg[k] if u > zero else zero
        gd[k] = du + (-du) * fs[k]
        gs[k] = fg[k] + (-du) * fd[k]
