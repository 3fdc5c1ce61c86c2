"""The fast soft skeleton (losses/soft_skeleton.py) against a literal transcription of the reference.

The oracle below follows the clDice/clCE/cbDice ``soft_skel`` line by line with ``F.max_pool2d``
(docs/MODERN_LOSSES.md §clce, §cbdice; docs/BASELINES.md §3.11). Values must be bit-identical;
gradients equal up to the summation order of autograd (a few ulps), including inputs full of ties,
where the pooling's first-extremum rule and ``torch.min``'s halving decide where gradients go.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losses.soft_skeleton import soft_dilate, soft_erode, soft_skeleton


def oracle_erode(img):
    p1 = -F.max_pool2d(-img, (3, 1), (1, 1), (1, 0))
    p2 = -F.max_pool2d(-img, (1, 3), (1, 1), (0, 1))
    return torch.min(p1, p2)


def oracle_dilate(img):
    return F.max_pool2d(img, (3, 3), (1, 1), (1, 1))


def oracle_skel(img, iter_):
    skel = F.relu(img - oracle_dilate(oracle_erode(img)))
    for _ in range(iter_):
        img = oracle_erode(img)
        delta = F.relu(img - oracle_dilate(oracle_erode(img)))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def probabilities(seed, dtype, shape=(2, 1, 13, 17), ties=False):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=gen, dtype=torch.float64)
    if ties:  # few distinct values: windows with equal extrema everywhere
        logits = (2 * logits).round()
    return torch.sigmoid(logits).to(dtype).requires_grad_()


ULP = {torch.float32: 2e-7, torch.float64: 5e-16}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
@pytest.mark.parametrize("op", ["erode", "dilate"])
def test_erode_and_dilate_match_max_pool2d(op, ties, dtype):
    fast, ref = (soft_erode, oracle_erode) if op == "erode" else (soft_dilate, oracle_dilate)
    x = probabilities(0, dtype, ties=ties)
    weight = torch.rand(x.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    (grad_fast,) = torch.autograd.grad((fast(x) * weight).sum(), x)
    (grad_ref,) = torch.autograd.grad((ref(x) * weight).sum(), x)
    assert torch.equal(fast(x), ref(x))
    # One pool routes each output gradient to one input in the same order: bit-identical.
    assert (
        torch.equal(grad_fast, grad_ref)
        if op == "erode"
        else torch.allclose(grad_fast, grad_ref, 0, 4 * ULP[dtype])
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
@pytest.mark.parametrize("num_iter", [0, 3, 10])
def test_soft_skeleton_matches_the_reference(num_iter, ties, dtype):
    x = probabilities(2, dtype, ties=ties)
    weight = torch.rand(x.shape, generator=torch.Generator().manual_seed(3), dtype=dtype)
    fast, ref = soft_skeleton(x, num_iter), oracle_skel(x, num_iter)
    assert torch.equal(fast, ref)
    (grad_fast,) = torch.autograd.grad((fast * weight).sum(), x)
    (grad_ref,) = torch.autograd.grad((ref * weight).sum(), x)
    assert torch.allclose(grad_fast, grad_ref, rtol=0, atol=8 * ULP[dtype])


def test_soft_skeleton_gradcheck_float64():
    x = probabilities(4, torch.float64, shape=(1, 1, 7, 8))
    assert torch.autograd.gradcheck(lambda t: soft_skeleton(t, 3), (x,))


def test_thin_and_degenerate_shapes():
    """One-pixel-wide images (a window with no neighbour on one axis) and a 1×1 image."""
    for shape in [(1, 1, 1, 9), (1, 1, 9, 1), (1, 1, 1, 1), (3, 2, 5)]:
        x = probabilities(5, torch.float64, shape=shape)
        fast = soft_skeleton(x, 2)
        ref = oracle_skel(x if x.ndim == 4 else x[None], 2)
        assert torch.equal(fast, ref.reshape(fast.shape))


def test_hand_checked_erosion_and_dilation():
    """A single bright pixel: erosion keeps only the border behaviour, dilation makes a 3×3 block."""
    x = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    x[0, 0, 2, 2] = 1.0
    assert soft_erode(x).eq(0).all()
    expected = torch.zeros(5, 5, dtype=torch.float64)
    expected[1:4, 1:4] = 1.0
    assert torch.equal(soft_dilate(x)[0, 0], expected)
    # the border does not erode: a constant image stays constant, its skeleton is empty
    ones = torch.ones(1, 1, 4, 6, dtype=torch.float64)
    assert torch.equal(soft_erode(ones), ones) and soft_skeleton(ones, 5).eq(0).all()


@pytest.mark.parametrize("num_iter", [0, 1, 3, 10])
def test_binary_soft_skeleton_equals_the_soft_skeleton_of_binary_maps(num_iter):
    from losses.soft_skeleton import binary_soft_skeleton

    for seed in range(6):
        gen = torch.Generator().manual_seed(seed)
        mask = torch.rand(2, 9 + 3 * seed, 11 + 2 * seed, generator=gen) > 0.2 + 0.1 * seed
        fast = binary_soft_skeleton(mask, num_iter)
        assert fast.dtype == torch.bool
        assert torch.equal(fast.double(), oracle_skel(mask.double()[:, None], num_iter)[:, 0])


# ----------------------------------------------------------------------------- compiled kernels


def _skeleton_and_grads(x, weight, use_kernels, monkeypatch):
    import losses.soft_skeleton as skeleton

    monkeypatch.setattr(skeleton, "USE_KERNELS", use_kernels)
    out = []
    for fn in (lambda t: soft_skeleton(t, 10), soft_erode, soft_dilate):
        leaf = x.clone().requires_grad_()
        value = fn(leaf)
        (grad,) = torch.autograd.grad((value * weight).sum(), leaf)
        out += [value.detach(), grad]
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
@pytest.mark.parametrize("shape", [(2, 3, 29, 31), (1, 1, 1, 7), (1, 1, 6, 1), (1, 1, 2, 2), (4, 9)])
def test_compiled_kernels_equal_the_tensor_passes_bit_for_bit(shape, ties, dtype, monkeypatch):
    """Values and gradients of the skeleton, erosion and dilation with and without the numba kernels."""
    pytest.importorskip("numba")
    x = probabilities(7, dtype, shape=shape, ties=ties)
    weight = torch.randn(shape, generator=torch.Generator().manual_seed(8), dtype=dtype)
    compiled = _skeleton_and_grads(x, weight, True, monkeypatch)
    passes = _skeleton_and_grads(x, weight, False, monkeypatch)
    assert all(torch.equal(a, b) for a, b in zip(compiled, passes))


def test_kernels_are_used_for_cpu_floats_only(monkeypatch):
    import losses.soft_skeleton as skeleton

    pytest.importorskip("numba")
    assert skeleton._compiled(torch.zeros(1, 1, 4, 4))
    assert not skeleton._compiled(torch.zeros(1, 1, 4, 4, dtype=torch.float16))
    assert not skeleton._compiled(torch.zeros(1, 1, 0, 4))
    monkeypatch.setattr(skeleton, "USE_KERNELS", False)
    assert not skeleton._compiled(torch.zeros(1, 1, 4, 4))
