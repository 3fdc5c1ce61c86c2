"""Boundary loss (``losses/boundary.py``): ``boundary`` and ``boundary_term``, docs/MODERN_LOSSES.md §boundary.

References: hand-computed maps and terms on tiny inputs; a literal oracle of the official
construction (``class2one_hot`` int32 one-hot → ``np.zeros_like`` → float distances assigned into
it, ``einsum`` terms in float32); numbers produced by the official code (LIVIAETS/boundary-loss
@ 171c32d8: ``dataloader.py::dist_map_transform([1, 1], 2)`` per image, ``losses.py::
GeneralizedDice(idc=[0, 1])`` and ``SurfaceLoss(idc=[1])`` on ``softmax(logits, 1)``, CPU,
torch 2.14.1, float32) on :func:`blob_inputs`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from losses import LOSSES, build_loss
from losses.boundary import (
    BoundaryLoss,
    boundary_weights,
    generalized_dice_loss,
    official_distance_map,
    surface_loss,
)
from tests.loss_cases import descend


def blob_inputs(dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic logits ``(2,2,12,13)`` and targets: a disk and a rectangle touching the border."""
    yy, xx = torch.meshgrid(torch.arange(12.0), torch.arange(13.0), indexing="ij")
    disk = ((yy - 5.3) ** 2 + (xx - 6.1) ** 2 < 16).long()
    rect = torch.zeros(12, 13, dtype=torch.long)
    rect[2:9, 0:5] = 1
    idx = torch.arange(2 * 2 * 12 * 13, dtype=torch.float64)
    logits = (3 * torch.sin(1.3 * idx + 0.5)).reshape(2, 2, 12, 13).to(dtype)
    return logits, torch.stack([disk, rect])


def literal_official_map(mask: np.ndarray) -> np.ndarray:
    """``utils.py::one_hot2dist`` on the int32 one-hot of ``dataloader.py::gt_transform``, class 1."""
    seg = np.stack([~mask, mask]).astype(np.int32)
    res = np.zeros_like(seg, dtype=None)  # int32, inherited: the truncation quirk
    for k in range(2):
        pos = seg[k].astype(bool)
        if pos.any():
            neg = ~pos
            res[k] = ndi.distance_transform_edt(neg) * neg - (ndi.distance_transform_edt(pos) - 1) * pos
    return res[1]


def literal_official_terms(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Official ``GeneralizedDice(idc=[0,1])`` and ``SurfaceLoss(idc=[1])`` with einsum, float32."""
    probs = torch.softmax(logits, 1).float()
    onehot = torch.stack([target == 0, target == 1], 1).float()
    w = 1 / ((torch.einsum("bkwh->bk", onehot) + 1e-10) ** 2)
    inter = w * torch.einsum("bkwh,bkwh->bk", probs, onehot)
    union = w * (torch.einsum("bkwh->bk", probs) + torch.einsum("bkwh->bk", onehot))
    gdl = (1 - 2 * (torch.einsum("bk->b", inter) + 1e-10) / (torch.einsum("bk->b", union) + 1e-10)).mean()
    maps = []
    for m in target.numpy().astype(bool):
        maps.append(np.zeros(m.shape, np.int32) if m.all() else literal_official_map(m))  # suite: full → 0
    phi = torch.from_numpy(np.stack(maps)).float()
    return gdl, torch.einsum("bwh,bwh->bwh", probs[:, 1], phi).mean()


# --------------------------------------------------------------------------- the distance map


def test_distance_map_by_hand_shows_the_int32_truncation():
    """A single pixel at (3,3) of a 7×7 image: outside, trunc(√(dy²+dx²)); the pixel itself 0."""
    mask = np.zeros((7, 7), bool)
    mask[3, 3] = True
    phi = official_distance_map(mask)
    assert phi.dtype == np.int32
    assert phi[3, 3] == 0 and phi[3, 4] == 1 and phi[2, 2] == 1  # √2 → 1
    assert phi[1, 2] == 2 and phi[0, 0] == 4 and phi[3, 0] == 3  # √5 → 2, √18 → 4, 3
    # inside a 5×5 square: −trunc(d − 1): ring 0, next ring −1, centre −2
    square = np.zeros((7, 7), bool)
    square[1:6, 1:6] = True
    inside = official_distance_map(square)[1:6, 1:6]
    assert inside[0].tolist() == [0] * 5 and inside[1, 1:4].tolist() == [-1, -1, -1] and inside[2, 2] == -2


def test_distance_map_equals_the_official_output():
    """Class-1 map printed by the official ``dist_map_transform([1,1], 2)`` for the disk of blob_inputs."""
    official_rows = {
        0: [4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 4],
        5: [3, 2, 1, 0, -1, -2, -3, -2, -1, 0, 0, 1, 2],
        11: [5, 4, 3, 2, 2, 2, 2, 2, 2, 2, 3, 3, 4],
    }
    _, target = blob_inputs()
    phi = official_distance_map(target[0].numpy().astype(bool))
    for row, values in official_rows.items():
        assert phi[row].tolist() == values


@pytest.mark.parametrize("seed", range(6))
def test_distance_map_equals_the_literal_construction(seed):
    rng = np.random.default_rng(seed)
    mask = ndi.binary_opening(rng.random((20, 23)) > 0.45)
    assert mask.any() and not mask.all()
    assert np.array_equal(official_distance_map(mask), literal_official_map(mask))


def test_empty_and_full_masks_give_zero_maps():
    """Empty: the official map (class absent). Full: the suite's decision; the official map would
    measure distances to a phantom pixel outside the image (scipy's EDT of an all-ones array)."""
    empty, full = np.zeros((4, 5), bool), np.ones((4, 5), bool)
    assert not official_distance_map(empty).any() and not official_distance_map(full).any()
    assert literal_official_map(full).any()  # the artefact the suite does not reproduce


# --------------------------------------------------------------------------- the terms


def test_generalized_dice_by_hand():
    """y = (1, 0), p₁ = (0.8, 0.3): w₀ = w₁ ≈ 1, I = 0.7 + 0.8, U = 1.9 + 2.1: 1 − 2·1.5/4 = 0.25."""
    p1 = torch.tensor([0.8, 0.3], dtype=torch.float64)
    probs = torch.stack([1 - p1, p1]).view(1, 2, 1, 2)
    onehot = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64).view(1, 2, 1, 2)
    assert generalized_dice_loss(probs, onehot).item() == pytest.approx(0.25, abs=1e-9)


def test_surface_term_by_hand():
    """y = (1, 0, 0) in a 1×3 image: φ = (0, 1, 2); p₁ = (0.8, 0.3, 0.6): (0.3 + 1.2)/3 = 0.5."""
    p1 = torch.tensor([0.8, 0.3, 0.6], dtype=torch.float64)
    logits = torch.stack([torch.zeros(3, dtype=torch.float64), torch.log(p1 / (1 - p1))]).view(1, 2, 1, 3)
    target = torch.tensor([[[1, 0, 0]]])
    assert build_loss("boundary_term")(logits, target).item() == pytest.approx(0.5, abs=1e-12)
    phi = torch.tensor([[[0.0, 1.0, 2.0]]], dtype=torch.float64)
    assert surface_loss(p1.view(1, 1, 3), phi).item() == pytest.approx(0.5, abs=1e-12)


OFFICIAL_GDL, OFFICIAL_SL = 0.6101411581039429, 1.0248578786849976  # official, float32, blob_inputs
OFFICIAL_GRAD = [-4.3827796616824344e-05, -0.0008497983799315989, -0.00012987501395400614]  # 0.7·GDL+0.3·SL


def test_equals_the_official_float32_values():
    logits, target = blob_inputs(torch.float32)
    assert build_loss("boundary_term")(logits, target).item() == pytest.approx(OFFICIAL_SL, rel=1e-6)
    loss = build_loss("boundary")
    loss.set_epoch(30)  # α = 0.7
    x = logits.clone().requires_grad_()
    value = loss(x, target)
    value.backward()
    assert value.item() == pytest.approx(0.7 * OFFICIAL_GDL + 0.3 * OFFICIAL_SL, rel=1e-6)
    assert x.grad[0, 1, 5, 4:7].tolist() == pytest.approx(OFFICIAL_GRAD, rel=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("schedule", ["rebalance", "steal"])
@pytest.mark.parametrize("epoch", [0, 7, 120])
def test_value_and_gradient_equal_the_literal_oracle(dtype, schedule, epoch):
    logits, target = blob_inputs(dtype)
    target[1, 0, 0] = 1  # second image: the rectangle and a lone pixel
    loss = build_loss("boundary", schedule=schedule)
    loss.set_epoch(epoch)
    w_gdl, w_sl = boundary_weights(epoch, schedule)
    x, y = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    value = loss(x, target)
    value.backward()
    gdl, sl = literal_official_terms(y, target)
    (w_gdl * gdl + w_sl * sl).backward()
    assert value.dtype == dtype
    assert value.item() == pytest.approx((w_gdl * gdl + w_sl * sl).item(), rel=1e-6)
    assert torch.allclose(x.grad.float(), y.grad.float(), rtol=1e-4, atol=1e-8)


# --------------------------------------------------------------------------- schedules


def test_schedules_by_hand():
    assert boundary_weights(0) == (1.0, 0.0)
    assert boundary_weights(1) == pytest.approx((0.99, 0.01))
    assert boundary_weights(50) == pytest.approx((0.5, 0.5))
    assert boundary_weights(99) == pytest.approx((0.01, 0.99)) and boundary_weights(500) == (0.01, 0.99)
    assert boundary_weights(0, "steal") == (1.0, 0.01)
    assert boundary_weights(90, "steal") == pytest.approx((0.1, 0.91))
    assert boundary_weights(150, "steal") == pytest.approx((0.1, 1.51))  # not a convex combination
    with pytest.raises(ValueError, match="schedule"):
        boundary_weights(0, "linear")
    with pytest.raises(ValueError, match="schedule"):
        BoundaryLoss(schedule="linear")


def test_steal_schedule_equals_the_official_update_rule():
    """``scheduler.py::StealWeight(0.01)`` applied after each epoch, starting from [1, 0.01]."""
    weights = [1.0, 0.01]
    for epoch in range(200):
        assert boundary_weights(epoch, "steal") == pytest.approx(tuple(weights), abs=1e-12)
        weights = [max(0.1, weights[0] - 0.01), weights[1] + 0.01]


def test_set_epoch_moves_the_weight_and_term_alone_has_no_schedule():
    logits, target = blob_inputs(torch.float64)
    gdl, sl = (t.item() for t in literal_official_terms(logits, target))
    loss = build_loss("boundary")
    assert loss(logits, target).item() == pytest.approx(gdl, rel=1e-6)  # epoch 0: α = 1
    loss.set_epoch(1000)
    assert loss(logits, target).item() == pytest.approx(0.01 * gdl + 0.99 * sl, rel=1e-6)
    term = build_loss("boundary_term")
    before = term(logits, target)
    term.set_epoch(80)
    assert torch.equal(before, term(logits, target))
    assert LOSSES["boundary"].required_maps == () and LOSSES["boundary_term"].required_maps == ()


# --------------------------------------------------------------------------- limits


def test_empty_and_full_targets():
    """Both: the surface term is 0 with zero gradient (φ = 0); the GDL stays finite, with the
    absent class weighted 1/(1e-10)² = 1e20 as in the official code."""
    logits, _ = blob_inputs(torch.float64)
    for fill in (0, 1):
        target = torch.full((2, 12, 13), fill, dtype=torch.int64)
        x = logits.clone().requires_grad_()
        term = build_loss("boundary_term")(x, target)
        term.backward()
        assert term.item() == 0.0 and not x.grad.any()
        loss = build_loss("boundary")
        loss.set_epoch(40)
        value = loss(logits, target)
        gdl, _ = literal_official_terms(logits, target)
        assert torch.isfinite(value) and value.item() == pytest.approx(0.6 * gdl.item(), rel=1e-6)


def test_gradcheck_float64():
    logits, target = blob_inputs(torch.float64)
    logits, target = logits[:, :, 2:8, 1:8].contiguous(), target[:, 2:8, 1:8].contiguous()
    for name, epoch in [("boundary", 30), ("boundary_term", 0)]:
        loss = build_loss(name)
        loss.set_epoch(epoch)
        assert torch.autograd.gradcheck(lambda x, f=loss: f(x, target), (logits.clone().requires_grad_(),))


@pytest.mark.parametrize("epoch", [0, 60])
def test_boundary_converges_on_free_logits(epoch):
    _, target = blob_inputs()
    logits = torch.zeros(2, 2, 12, 13, requires_grad=True)
    loss = build_loss("boundary")
    loss.set_epoch(epoch)
    history = descend(loss, logits, target)
    assert history[-1] < history[0] - 0.1
    assert torch.equal(logits.argmax(1), target)


def test_surface_term_alone_fixes_every_pixel_off_its_zero_ring():
    """Minimising mean(p₁φ) drives p₁ → 1 where φ < 0 and p₁ → 0 where φ > 0; φ = 0 pixels
    (the object's two inner rings of distance < 2) get no gradient at all."""
    _, target = blob_inputs()
    phi = torch.from_numpy(np.stack([official_distance_map(t.numpy().astype(bool)) for t in target]))
    logits = torch.zeros(2, 2, 12, 13, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.1)
    for _ in range(30):
        optimizer.zero_grad()
        build_loss("boundary_term")(logits, target).backward()
        optimizer.step()
    pred = logits.argmax(1)
    assert torch.equal(pred[phi != 0], target[phi != 0])
    assert torch.equal(logits[:, 0][phi == 0], logits[:, 1][phi == 0])  # untouched from 0
