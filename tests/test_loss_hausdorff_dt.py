"""Hausdorff distance-transform loss (``losses/hausdorff_dt.py``), docs/MODERN_LOSSES.md §hausdorff_dt.

References: a hand-computed 1×4 case; a literal oracle of MONAI's ``HausdorffDTLoss`` (two scipy
EDTs per mask, float32 fields, error in the logits' dtype); numbers produced by MONAI 1.6.1
``HausdorffDTLoss(alpha, include_background=False, to_onehot_y=True, softmax=True)(logits,
target[:, None])`` on CPU (torch 2.14.1) on :func:`fixed_inputs`; and MONAI itself when it is
importable (it is not a dependency of the suite).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from losses import LOSSES, build_loss
from losses.hausdorff_dt import HausdorffDTLoss, distance_field
from tests.loss_cases import descend


def fixed_inputs(dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic logits ``(2,2,6,7)`` and thin-structure target ``(2,6,7)`` (no RNG)."""
    b, h, w = 2, 6, 7
    idx = torch.arange(b * 2 * h * w, dtype=torch.float64)
    logits = (3 * torch.sin(1.3 * idx + 0.5)).reshape(b, 2, h, w).to(dtype)
    target = (torch.cos(0.7 * torch.arange(b * h * w, dtype=torch.float64)) > 0.2).long().reshape(b, h, w)
    return logits, target


def literal_field(mask: np.ndarray) -> np.ndarray:
    """MONAI's ``distance_field`` of one mask: 0 unless mixed, else edt(m) + edt(¬m), float32."""
    if not mask.any() or mask.all():
        return np.zeros(mask.shape, np.float32)
    return (ndi.distance_transform_edt(mask) + ndi.distance_transform_edt(~mask)).astype(np.float32)


def oracle(logits: torch.Tensor, target: torch.Tensor, alpha=2.0, field_dtype=torch.float32):
    """MONAI's forward for channel 1, written out: the fields in ``field_dtype``, then the mean."""
    p = torch.softmax(logits, 1)[:, 1]
    fields = []
    for masks in ((p.detach() > 0.5).numpy(), (target > 0.5).numpy()):
        fields.append(torch.from_numpy(np.stack([literal_field(m) for m in masks])).to(field_dtype))
    distance = fields[0] ** alpha + fields[1] ** alpha
    return ((p - target.float()) ** 2 * distance).mean()


def value_and_grad(fn, logits):
    x = logits.clone().requires_grad_()
    value = fn(x)
    value.backward()
    return value.detach(), x.grad


# --------------------------------------------------------------------------- values


def test_one_row_by_hand():
    """g = (0,1,1,0), p = (0.2,0.7,0.4,0.1) → prediction (0,1,0,0). Fields: d_g = (1,1,1,1),
    d_p = (1,1,1,2); d_p² + d_g² = (2,2,2,5); (p−g)² = (0.04,0.09,0.36,0.01): mean(0.08,0.18,0.72,0.05)
    = 0.2575."""
    p = torch.tensor([0.2, 0.7, 0.4, 0.1], dtype=torch.float64)
    logits = torch.stack([torch.zeros(4, dtype=torch.float64), torch.log(p / (1 - p))]).view(1, 2, 1, 4)
    target = torch.tensor([[[0, 1, 1, 0]]])
    assert build_loss("hausdorff_dt")(logits, target).item() == pytest.approx(0.2575, abs=1e-7)
    assert build_loss("hausdorff_dt", alpha=1.0)(logits, target).item() == pytest.approx(
        (0.08 + 0.18 + 0.72 + 0.03) / 4, abs=1e-7
    )


@pytest.mark.parametrize("seed", range(8))
def test_distance_field_is_bit_identical_to_two_scipy_edts(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((17 + seed, 23)) > 0.1 + 0.1 * seed
    expected = literal_field(mask)
    got = distance_field(mask)
    assert got.dtype == np.float32 and np.array_equal(got.view(np.int32), expected.view(np.int32))


# MONAI 1.6.1 on fixed_inputs (see the module docstring): value and d/dlogits[0, 1, 0, :3].
MONAI = {
    (torch.float32, 2.0): (
        0.93424391746521,
        [-0.0005550311761908233, -0.0014851028099656105, 0.0028186144772917032],
    ),
    (torch.float64, 2.0): (
        0.9342438911381001,
        [-0.0005550311081408071, -0.0014851027330524311, 0.00281861371777918],
    ),
    (torch.float32, 1.0): (0.8726298809051514, None),
    (torch.float64, 1.0): (0.8726299107181796, None),
}


@pytest.mark.parametrize(("dtype", "alpha"), sorted(MONAI, key=str))
def test_equals_the_monai_numbers(dtype, alpha):
    logits, target = fixed_inputs(dtype)
    value, grad = value_and_grad(lambda x: build_loss("hausdorff_dt", alpha=alpha)(x, target), logits)
    expected, expected_grad = MONAI[dtype, alpha]
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    assert value.dtype == dtype and value.item() == pytest.approx(expected, rel=tol)
    if expected_grad is not None:
        assert grad[0, 1, 0, :3].tolist() == pytest.approx(expected_grad, rel=10 * tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_monai_when_installed(dtype):
    monai_losses = pytest.importorskip("monai.losses", reason="MONAI is not installed (not a dependency)")
    gen = torch.Generator().manual_seed(1)
    logits = (2 * torch.randn(3, 2, 9, 11, generator=gen)).to(dtype)
    target = (torch.rand(3, 9, 11, generator=gen) > 0.5).long()
    target[2] = 0
    reference = monai_losses.HausdorffDTLoss(
        alpha=2.0, include_background=False, to_onehot_y=True, softmax=True
    )
    v0, g0 = value_and_grad(lambda x: reference(x, target[:, None]), logits)
    v1, g1 = value_and_grad(lambda x: build_loss("hausdorff_dt")(x, target), logits)
    assert torch.equal(v0, v1) and torch.allclose(g0, g1, rtol=1e-6 if dtype == torch.float32 else 1e-14)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(3))
def test_value_and_gradient_equal_the_oracle(dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = (2 * torch.randn(2, 2, 8, 9, generator=gen)).to(dtype)
    target = (torch.rand(2, 8, 9, generator=gen) > 0.6).long()
    v0, g0 = value_and_grad(lambda x: oracle(x, target), logits)
    v1, g1 = value_and_grad(lambda x: build_loss("hausdorff_dt")(x, target), logits)
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    assert v1.item() == pytest.approx(v0.item(), rel=tol)
    assert torch.allclose(g1, g0, rtol=tol, atol=tol * 1e-3)


def test_float32_fields_in_a_float64_loss():
    """MONAI casts the fields to float32 and squares them there (√5² ≠ 5 in float32), then
    multiplies into the float64 error: float64 logits reproduce that, not float64 fields."""
    logits, target = fixed_inputs(torch.float64)
    value = build_loss("hausdorff_dt")(logits, target).item()
    assert value == pytest.approx(oracle(logits, target).item(), rel=1e-14)
    assert abs(value - oracle(logits, target, field_dtype=torch.float64).item()) > 1e-9


def test_only_the_squared_error_carries_gradient():
    """dL/dp = 2(p − g)·D/(B·H·W) with D held fixed, chained through the softmax by hand."""
    logits, target = fixed_inputs(torch.float64)
    _, grad = value_and_grad(lambda x: build_loss("hausdorff_dt")(x, target), logits)
    p = torch.softmax(logits, 1)[:, 1]
    masks = ((p > 0.5).numpy(), target.numpy().astype(bool))
    d = [torch.from_numpy(np.stack([literal_field(m) for m in ms])) for ms in masks]
    dp = 2 * (p - target) * (d[0] ** 2 + d[1] ** 2).double() / p.numel()
    dz1 = dp * p * (1 - p)  # d p₁ / d z₁ = p₁(1 − p₁) = −d p₁ / d z₀
    assert torch.allclose(grad[:, 1], dz1, atol=1e-15) and torch.allclose(grad[:, 0], -dz1, atol=1e-15)


# --------------------------------------------------------------------------- limits and options


def test_empty_and_full_masks_give_zero_fields():
    """MONAI skips an all-in or all-out mask: empty target with empty prediction → 0 whatever p is;
    empty target with a mixed prediction → only d_p acts."""
    assert (
        not distance_field(np.zeros((3, 4), bool)).any() and not distance_field(np.ones((3, 4), bool)).any()
    )
    low = torch.stack([torch.zeros(2, 5, 6), torch.full((2, 5, 6), -0.3)], 1).double()  # p ≈ 0.43 < 0.5
    for fill, logits in [(0, low), (1, -low)]:
        target = torch.full((2, 5, 6), fill, dtype=torch.int64)
        assert build_loss("hausdorff_dt")(logits, target).item() == 0.0
    mixed = low.clone()
    mixed[0, 1, 2, 3] = 1.0
    target = torch.zeros(2, 5, 6, dtype=torch.int64)
    value = build_loss("hausdorff_dt")(mixed, target).item()
    assert value > 0 and value == pytest.approx(oracle(mixed, target).item(), rel=1e-14)


def test_alpha_changes_the_value_and_must_be_positive():
    logits, target = fixed_inputs(torch.float64)
    assert build_loss("hausdorff_dt", alpha=1.0)(logits, target) != build_loss("hausdorff_dt")(logits, target)
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="alpha"):
            HausdorffDTLoss(alpha=bad)
    assert LOSSES["hausdorff_dt"].required_maps == ()


def test_gradcheck_float64():
    logits, target = fixed_inputs(torch.float64)  # |z₁ − z₀| ≫ 1e-6: no threshold crossing
    assert torch.autograd.gradcheck(
        lambda x: build_loss("hausdorff_dt")(x, target), (logits.clone().requires_grad_(),)
    )


def test_converges_on_free_logits():
    _, target = fixed_inputs()
    logits = torch.zeros(2, 2, 6, 7)
    logits[:, 1] = 0.2 * torch.cos(torch.arange(42.0)).view(6, 7)  # a mixed first prediction
    logits.requires_grad_()
    loss = build_loss("hausdorff_dt")
    history = descend(loss, logits, target)
    assert history[-1] < 0.2 * history[0]
    assert torch.equal(logits.argmax(1), target)
