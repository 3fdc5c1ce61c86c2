"""cbdice (losses/cbdice.py) against the official SoftcbDiceLoss, docs/MODERN_LOSSES.md §cbdice.

The oracle follows PengchengShi1220/cbDice @ a970c1d4 ``loss/cbdice_loss.py`` step by step: soft skeletons
with ``F.max_pool2d`` (10 iterations) of the label and of ``p > 0.5``, ``get_weights`` with its per-image
loop (Python ``max(tensor, 1)``, in-place clipping, boolean-index assignments), ``combine_tensors`` by
clone and masked assignment; the EDT is scipy's, cast to float32 (MONAI's CPU path). Reference numbers
come from running the fetched official ``SoftcbDiceLoss(iter_=10, smooth=1e-3)`` (with MONAI 1.6.1) on
:func:`official_case`. The official code runs in float32 only.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from losses import build_loss
from losses.cbdice import cbdice_loss, combine, radius_weights
from tests.loss_cases import official_case


def oracle_skel(img, iter_=10):
    def erode(x):
        return torch.min(-F.max_pool2d(-x, (3, 1), (1, 1), (1, 0)), -F.max_pool2d(-x, (1, 3), (1, 1), (0, 1)))

    def open_(x):
        return F.max_pool2d(erode(x), (3, 3), (1, 1), (1, 1))

    skel = F.relu(img - open_(img))
    for _ in range(iter_):
        img = erode(img)
        delta = F.relu(img - open_(img))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def oracle_weights(mask_input, skel_input, prob_flag):
    if prob_flag:
        mask, skel = (mask_input > 0.5).int(), (skel_input > 0.5).int()
    else:
        mask, skel = mask_input, skel_input
    planes = mask.detach().numpy()
    distances = torch.from_numpy(np.stack([ndimage.distance_transform_edt(m) for m in planes])).float()
    distances[mask == 0] = 0
    skel_radius = torch.zeros_like(distances)
    skel_radius[skel == 1] = distances[skel == 1]
    dist_norm, radius_norm = torch.zeros_like(distances), torch.zeros_like(distances)
    inverse = torch.zeros_like(mask, dtype=torch.float32)
    for i in range(skel_radius.shape[0]):
        d_i, r_i = distances[i], skel_radius[i]
        r_max, r_min = max(r_i.max(), 1), max(r_i.min(), 1)
        d_i[d_i > r_max] = r_max
        dist_norm[i] = d_i / r_max
        radius_norm[i] = r_i / r_max
        inverse[i] = (r_max - r_i + r_min) / r_max
    inverse[skel == 0] = 0
    return dist_norm * mask_input, radius_norm * mask_input, inverse * skel_input


def oracle_combine(a, b, c):
    d = (b * c).clone()
    m = (a != 0) & (b == 0)
    d[m] = (a * c)[m]
    return d


def oracle_cbdice(logits, target, iter_=10, smooth=1e-3):
    p = torch.softmax(torch.cat([logits[:, :1], logits[:, 1:].max(1, keepdim=True)[0]], 1), 1)[:, 1]
    with torch.no_grad():
        y = torch.where(target > 0, 1, 0).float()
        skel_hard = oracle_skel((p > 0.5).float()[:, None], iter_)[:, 0]
        skel_y = oracle_skel(y[:, None], iter_)[:, 0]
    skel_p = skel_hard * p
    q_vl, q_slvl, q_sl = oracle_weights(y, skel_y, False)
    q_vp, q_spvp, q_sp = oracle_weights(p, skel_p, True)
    tprec = (torch.sum(q_sp * q_vl) + smooth) / (torch.sum(oracle_combine(q_spvp, q_slvl, q_sp)) + smooth)
    tsens = (torch.sum(q_sl * q_vp) + smooth) / (torch.sum(oracle_combine(q_slvl, q_spvp, q_sl)) + smooth)
    return -2.0 * (tprec * tsens) / (tprec + tsens)


def test_official_reference_numbers():
    """Values of the official SoftcbDiceLoss(iter_=10, smooth=1e-3) on official_case(0) and (1) (float32)."""
    logits, target = official_case(0)
    assert build_loss("cbdice")(logits.float(), target).item() == -0.43678387999534607
    logits, target = official_case(1)
    logits[:, 1] += 4 * (2 * target - 1)
    assert build_loss("cbdice")(logits.float(), target).item() == -0.98453301191329956


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_value_and_gradient_match_the_oracle_float32(seed):
    logits, target = official_case(seed)
    if seed == 1:  # a prediction close to the label
        logits[:, 1] += 4 * (2 * target - 1)
    if seed == 2:  # ties
        logits = (2 * logits).round()
    results = []
    for fn in (build_loss("cbdice"), oracle_cbdice):
        x = logits.float().requires_grad_()
        value = fn(x, target)
        value.backward()
        results.append((value.detach(), x.grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_radius_weights_by_hand():
    """A 3-px bar across a 5×9 image: D = 1, 2, 1 on its rows (scipy ignores the image border), the
    centre row as skeleton: R_max = 2, R_min = 1, q_v = D/2, q_sv = 1 and I = (2 − 2 + 1)/2 on it."""
    mask = torch.zeros(1, 5, 9)
    mask[0, 1:4] = 1
    skel = torch.zeros(1, 5, 9)
    skel[0, 2, 1:8] = 1
    dist, radius, inverse = radius_weights(mask, skel)
    assert dist[0, :, 4].tolist() == [0.0, 0.5, 1.0, 0.5, 0.0]
    assert radius[0, 2, 1:8].eq(1).all() and radius.sum() == 7
    assert inverse[0, 2, 1:8].eq(0.5).all() and inverse.sum() == 3.5
    assert dist.dtype == radius.dtype == inverse.dtype == torch.float32


def test_combine():
    a = torch.tensor([0.0, 2.0, 2.0, 0.0])
    b = torch.tensor([0.0, 0.0, 3.0, 3.0])
    c = torch.tensor([5.0, 5.0, 5.0, 5.0])
    assert combine(a, b, c).tolist() == [0.0, 10.0, 15.0, 15.0]


def test_matching_prediction_gives_minus_one_and_zero_gradient():
    """Same hard masks: the radius and distance terms coincide on the skeletons, tprec = tsens = 1."""
    _, target = official_case(0)
    logits = (4 * (2 * target - 1)).float()[:, None] * torch.tensor([0.0, 1.0])[None, :, None, None]
    logits.requires_grad_()
    value = build_loss("cbdice")(logits, target)
    value.backward()
    assert value.item() == -1.0
    assert logits.grad.abs().max().item() == 0.0


def test_empty_and_full_targets():
    """Empty label and empty prediction: every sum is 0, the loss is −s/s·… = −1. Empty label with a
    predicted foreground: tsens = 1, tprec = s/(Σ q_spvp·q_sp + s). A full label (scipy's EDT of an
    all-ones image measures to a phantom border) is taken as scipy gives it, like the official code."""
    empty = torch.zeros(1, 12, 12, dtype=torch.int64)
    assert (
        build_loss("cbdice")(
            torch.zeros(1, 2, 12, 12) - torch.tensor([0.0, 1.0])[None, :, None, None], empty
        ).item()
        == -1.0
    )
    logits = torch.zeros(1, 2, 12, 12)
    logits[0, 1, 3:9, 2:10] = 3.0
    value = build_loss("cbdice")(logits, empty)
    assert value.item() == oracle_cbdice(logits, empty).item()
    assert -1 < value.item() < 0
    full = torch.ones(1, 12, 12, dtype=torch.int64)
    assert build_loss("cbdice")(logits, full).item() == oracle_cbdice(logits, full).item()


def test_arguments_change_the_value_and_bad_values_raise():
    logits, target = official_case(0)
    base = build_loss("cbdice")(logits.float(), target)
    assert build_loss("cbdice", iter_=3)(logits.float(), target) != base
    assert (
        build_loss("cbdice", iter_=3)(logits.float(), target).item()
        == oracle_cbdice(logits.float(), target, 3).item()
    )
    assert build_loss("cbdice", smooth=1.0)(logits.float(), target) != base
    with pytest.raises(ValueError, match="iter_"):
        build_loss("cbdice", iter_=-1)
    with pytest.raises(ValueError, match="smooth"):
        build_loss("cbdice", smooth=0.0)


def test_float64_runs_the_same_formula_and_gradcheck():
    """The official code is float32-only; here float64 logits give the float32 value to float32 precision,
    and the float64 formula (hard masks fixed away from p = 0.5) passes gradcheck."""
    logits, target = official_case(0)
    v32 = build_loss("cbdice")(logits.float(), target).item()
    v64 = build_loss("cbdice")(logits, target).item()
    assert v64 == pytest.approx(v32, rel=1e-6)
    x = logits[:1, :, :12, :14].clone()
    x[:, 1] += 0.2 * torch.sign(x[:, 1] - x[:, 0])  # |l1 − l0| ≥ 0.2: no hard-mask flip under gradcheck's eps
    x.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: cbdice_loss(torch.softmax(t, 1)[:, 1], target[:1, :12, :14]), (x,)
    )


def test_convergence_free_logits():
    _, target = official_case(3)
    logits = torch.zeros(2, 2, 24, 28)
    logits[:, 1] = 0.3 * torch.randn(2, 24, 28, generator=torch.Generator().manual_seed(0))
    logits.requires_grad_()
    loss = build_loss("cbdice")
    optimizer = torch.optim.Adam([logits], lr=0.1)
    first = loss(logits, target).item()
    for _ in range(40):
        optimizer.zero_grad()
        value = loss(logits, target)
        value.backward()
        optimizer.step()
    assert value.item() < first - 0.2  # −0.40 → −0.65: cbDice alone pulls only on masks and skeletons
