"""Tests of the Skea-topo loss (losses/skea_topo.py, docs/BASELINES.md §3.9)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from losses import LOSSES, build_loss
from losses.maps import skea_topo_map
from losses.skea_topo import SkeaTopoLoss, bort_term, critical_errors


def _golden_inputs(golden, dtype):
    logits = torch.tensor(golden["case__logits"]).to(dtype)
    target = torch.tensor(golden["case__target"])
    cw_key = "case__class_weight_f64" if dtype == torch.float64 else "case__class_weight"
    maps = {
        "class_weight": torch.tensor(golden[cw_key]).to(dtype),
        "skea_topo": torch.tensor(golden["case__skea_map"]).to(dtype),
    }
    return logits, target, maps


def _loss_at(epoch: int, **kwargs) -> SkeaTopoLoss:
    loss = SkeaTopoLoss(**kwargs)
    loss.set_epoch(epoch)
    return loss


def _inputs_from_masks(masks: np.ndarray, logits: torch.Tensor, class_weight=(1.0, 1.0)):
    target = torch.tensor(masks, dtype=torch.int64)
    maps = {
        "class_weight": torch.tensor([class_weight] * len(masks), dtype=logits.dtype),
        "skea_topo": torch.tensor(np.stack([skea_topo_map(m) for m in masks])).to(logits.dtype),
    }
    return logits, target, maps


@pytest.mark.parametrize("epoch", [20, 21])
@pytest.mark.parametrize("dtype, suffix", [(torch.float32, "f32"), (torch.float64, "f64")])
def test_golden(golden, epoch, dtype, suffix):
    """The f64 golden used float32-rounded maps (the repo's ``weight_maps.float()``)."""
    value = _loss_at(epoch)(*_golden_inputs(golden, dtype))
    assert value.dtype == dtype
    expected = float(golden[f"baseline__Skea_topo_loss_e{epoch}__{suffix}"])
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_float64_rounds_maps_to_float32(golden):
    """Within 1e-9 of the repo's float64 value only because the maps are rounded to float32."""
    value = _loss_at(20)(*_golden_inputs(golden, torch.float64))
    assert float(value) == pytest.approx(float(golden["baseline__Skea_topo_loss_e20__f64"]), rel=1e-9)


def test_bort_off_at_epoch_20_on_at_21(golden):
    inputs = _golden_inputs(golden, torch.float32)
    at = {e: float(_loss_at(e)(*inputs)) for e in (0, 19, 20, 21, 30)}
    assert at[0] == at[19] == at[20]
    assert at[21] == at[30] != at[20]
    logits, target, maps = inputs
    p = torch.softmax(logits, dim=1)[:, 1]
    bort = float(bort_term(p, target.float(), maps["skea_topo"]))
    assert at[21] == pytest.approx(at[20] + bort, rel=1e-6)
    assert not _loss_at(20).bort_active and _loss_at(21).bort_active


@pytest.mark.parametrize(
    "kwargs, epoch",
    [
        ({"w0": 5.0}, 20),
        ({"bort_weight": 0.5}, 21),
        ({"bort_start_epoch": 5}, 10),
        ({"dilation_iters": 1}, 20),
    ],
)
def test_every_constructor_argument_changes_the_output(golden, kwargs, epoch):
    inputs = _golden_inputs(golden, torch.float32)
    default = float(_loss_at(epoch)(*inputs))
    changed = float(_loss_at(epoch, **kwargs)(*inputs))
    assert abs(changed - default) > 1e-4 * abs(default)


def test_half_probability_gives_log2():
    """p = 0.5 everywhere: every pixel's log term is log 2, so the weighted mean is log 2."""
    masks = np.zeros((1, 9, 11), dtype=np.uint8)
    masks[0, :, 5] = 1
    logits = torch.zeros(1, 2, 9, 11)
    value = _loss_at(0)(*_inputs_from_masks(masks, logits, class_weight=(1.0, 4.0)))
    assert float(value) == pytest.approx(math.log(2), rel=1e-6)


def test_all_class0_with_unit_skeleton_weight_is_softplus():
    """Target all 0 and S₀ = 1: no dilation band, W₀ = w₀ + c₀ everywhere, L = −log(1 − p) = softplus(a)."""
    a = 0.7
    logits = torch.zeros(1, 2, 4, 5)
    logits[:, 1] = a
    maps = {"class_weight": torch.tensor([[1.0, 1.0]]), "skea_topo": torch.zeros(1, 4, 4, 5)}
    maps["skea_topo"][:, 0] = 1.0
    value = _loss_at(0)(logits, torch.zeros(1, 4, 5, dtype=torch.int64), maps)
    assert float(value) == pytest.approx(math.log1p(math.exp(a)), rel=1e-6)


def test_dilation_trick_moves_near_boundary_object_pixels_to_class1():
    """Class-0 pixels next to the boundary with S₀ = 0 get T = w₀ > W₀ = c₀: weighted as class 1."""
    target = torch.zeros(1, 1, 7, dtype=torch.int64)
    target[0, 0, 3] = 1
    maps = {"class_weight": torch.tensor([[1.0, 6.0]]), "skea_topo": torch.zeros(1, 4, 1, 7)}
    logits = torch.zeros(1, 2, 1, 7)
    logits[0, 1] = torch.tensor([-3.0, -2.0, -1.0, 1.0, -1.0, -2.0, -3.0])
    logp = torch.log_softmax(logits, dim=1)[0, :, 0]
    # Band of 2 dilations: columns 1..5. W₁ = [0, 10, 10, 6, 10, 10, 0], W₀ = [1, 0, 0, 0, 0, 0, 1].
    w1 = torch.tensor([0.0, 10, 10, 6, 10, 10, 0])
    w0 = torch.tensor([1.0, 0, 0, 0, 0, 0, 1])
    expected = -(w1 * logp[1] + w0 * logp[0]).sum() / (w1.sum() + w0.sum())
    assert float(_loss_at(0)(logits, target, maps)) == pytest.approx(float(expected), rel=1e-6)


def test_bort_perfect_prediction_value():
    """No error: L_bort = Σ[tp(1−p) + tn·p]/N; with p = 0.8 on class 1 and 0.2 on class 0 it is 0.2."""
    g = torch.zeros(1, 10, 10)
    g[0, :, 4:6] = 1
    p = torch.where(g > 0, 0.8, 0.2)
    maps = torch.tensor(skea_topo_map(g[0].numpy().astype(np.uint8)))[None]
    assert float(bort_term(p, g, maps)) == pytest.approx(0.2, rel=1e-6)


def _membrane(width_cols) -> np.ndarray:
    gt = np.zeros((15, 15), dtype=bool)
    gt[:, width_cols] = True
    return gt


def test_critical_false_negative_gap_in_a_membrane():
    gt = _membrane([7])
    pred = gt.copy()
    pred[6:9, 7] = False  # a gap merges the two objects: topologically critical
    maps = skea_topo_map(gt)
    tfn, tfp = critical_errors(pred, gt, maps[2] > 0, maps[3] > 0)
    np.testing.assert_array_equal(tfn, gt & ~pred)
    assert not tfp.any()


def test_non_critical_false_negative_thinner_membrane():
    gt = _membrane([6, 7, 8])
    pred = _membrane([7])
    maps = skea_topo_map(gt)
    tfn, _ = critical_errors(pred, gt, maps[2] > 0, maps[3] > 0)
    assert not tfn.any()


def test_critical_false_positive_line_splits_an_object():
    gt = _membrane([2])
    pred = gt.copy()
    pred[7, 3:] = True  # a spurious membrane splitting the right object
    maps = skea_topo_map(gt)
    _, tfp = critical_errors(pred, gt, maps[2] > 0, maps[3] > 0)
    fp = pred & ~gt
    dil = np.zeros_like(gt)
    dil[:, 1:4] = True  # 3×3 dilation of the label: FP next to it never counts
    np.testing.assert_array_equal(tfp, fp & ~dil)


def test_non_critical_false_positive_thicker_membrane():
    gt = _membrane([7])
    pred = _membrane([6, 7, 8])
    maps = skea_topo_map(gt)
    _, tfp = critical_errors(pred, gt, maps[2] > 0, maps[3] > 0)
    assert not tfp.any()


@pytest.mark.parametrize("fill", [0, 1])
@pytest.mark.parametrize("epoch", [0, 21])
def test_empty_and_full_targets_are_finite(fill, epoch):
    masks = np.full((2, 12, 12), fill, dtype=np.uint8)
    logits = torch.randn(2, 2, 12, 12, generator=torch.Generator().manual_seed(0), requires_grad=True)
    value = _loss_at(epoch)(*_inputs_from_masks(masks, logits))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()


def test_saturated_logits_give_no_nan():
    """p exactly 0 or 1 in float32: the logs come from log_softmax, so no inf·0 = NaN."""
    masks = np.zeros((1, 8, 8), dtype=np.uint8)
    masks[0, 3:5] = 1
    logits = torch.zeros(1, 2, 8, 8)
    logits[:, 1] = torch.where(torch.tensor(masks[0]) > 0, -200.0, 200.0)  # confidently wrong
    logits.requires_grad_(True)
    value = _loss_at(21)(*_inputs_from_masks(masks, logits))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("epoch", [0, 21])
def test_gradcheck_float64(epoch):
    masks = np.zeros((2, 5, 6), dtype=np.uint8)
    masks[0, :, 2] = 1
    masks[1, 3, :] = 1
    logits = torch.randn(2, 2, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    logits.requires_grad_(True)
    _, target, maps = _inputs_from_masks(masks, logits, class_weight=(1.0, 5.0))
    loss = _loss_at(epoch)
    # fast_mode: a few random directions instead of one forward per input element.
    assert torch.autograd.gradcheck(lambda x: loss(x, target, maps), (logits,), fast_mode=True)


def test_registry_and_contract():
    assert LOSSES["skea_topo"] is SkeaTopoLoss
    loss = build_loss("skea_topo", w0=3.0)
    assert loss.w0 == 3.0 and loss.required_maps == ("skea_topo",) and loss.needs_class_weight
    with pytest.raises(KeyError, match="skea_topo"):
        loss(
            torch.zeros(1, 2, 4, 4),
            torch.zeros(1, 4, 4, dtype=torch.int64),
            {"class_weight": torch.ones(1, 2)},
        )
    with pytest.raises(ValueError, match="dilation_iters"):
        SkeaTopoLoss(dilation_iters=-1)


def test_converges_on_a_toy_image():
    """Seeded Adam on free logits: the loss falls, the membrane is found, far pixels stay class 0.

    Pixels within the two-dilation band of the membrane are pushed to class 1 by design (the
    label-dilation trick), so the accuracy is checked outside the band only.
    """
    masks = np.zeros((1, 12, 12), dtype=np.uint8)
    masks[0, :, 5:7] = 1
    masks[0, 6, :] = 1
    logits = torch.zeros(1, 2, 12, 12, requires_grad=True)
    _, target, maps = _inputs_from_masks(masks, logits, class_weight=(1.0, 4.0))
    loss = _loss_at(21)
    opt = torch.optim.Adam([logits], lr=0.2)
    values = []
    for _ in range(25):
        opt.zero_grad()
        value = loss(logits, target, maps)
        values.append(float(value.detach()))
        value.backward()
        opt.step()
    pred = logits.detach().argmax(dim=1)[0].numpy()
    far = ~ndi.binary_dilation(masks[0] > 0, iterations=2, structure=np.ones((3, 3)))
    assert float(loss(logits, target, maps).detach()) < 0.5 * values[0]
    assert pred[masks[0] > 0].all() and not pred[far].any()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(golden):
    inputs = _golden_inputs(golden, torch.float32)
    cpu = float(_loss_at(21)(*inputs))
    logits, target, maps = inputs
    gpu = _loss_at(21)(logits.cuda(), target.cuda(), {k: v.cuda() for k, v in maps.items()})
    assert float(gpu) == pytest.approx(cpu, rel=1e-5)
