"""clce (losses/clce.py) against the official 2-D retina code path, docs/MODERN_LOSSES.md §clce.

The oracle follows cesaracebes/centerline_CE @ 952a7c41 ``retina_experiments/utils/loss_factory.py::clCELoss``
line by line: ``cross_entropy(logits, onehot, reduction='none')`` with probability targets, ``soft_skel``
with ``F.max_pool2d`` on the whole softmax and on the one-hot label (3 iterations), means over B·H·W.
Reference numbers come from running the fetched official ``clCELoss(iters=3)`` on :func:`official_case`.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from losses import build_loss
from losses.clce import centerline_ce
from tests.loss_cases import official_case


def oracle_erode(img):
    return torch.min(-F.max_pool2d(-img, (3, 1), (1, 1), (1, 0)), -F.max_pool2d(-img, (1, 3), (1, 1), (0, 1)))


def oracle_open(img):
    return F.max_pool2d(oracle_erode(img), (3, 3), (1, 1), (1, 1))


def oracle_skel(img, iter_):
    skel = F.relu(img - oracle_open(img))
    for _ in range(iter_):
        img = oracle_erode(img)
        delta = F.relu(img - oracle_open(img))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def oracle_clce(logits, target, iters=3):
    y_true = F.one_hot(target, 2).permute(0, 3, 1, 2).to(logits.dtype)
    l_unred = F.cross_entropy(logits, y_true, reduction="none")
    y_pred_sk = oracle_skel(logits.softmax(dim=1), iters)
    y_true_sk = oracle_skel(y_true, iters)
    return torch.mul(l_unred, y_true_sk[:, 1]).mean() + torch.mul(l_unred, y_pred_sk[:, 1]).mean()


def test_official_reference_numbers():
    """Values of the official clCELoss(iters=3) on official_case(0), float32 and float64."""
    logits, target = official_case(0)
    assert build_loss("clce")(logits.float(), target).item() == 0.32379928231239319
    assert build_loss("clce")(logits, target).item() == 0.32379928660513135


ATOL = {torch.float32: 1e-9, torch.float64: 1e-17}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_and_gradient_match_the_oracle(seed, dtype):
    logits, target = official_case(seed)
    if seed == 1:  # a prediction close to the label
        logits[:, 1] += 4 * (2 * target - 1)
    if seed == 2:  # few distinct values: ties in every pooling window
        logits = (2 * logits).round()
    results = []
    for fn in (build_loss("clce"), oracle_clce):
        x = logits.to(dtype).requires_grad_()
        value = fn(x, target)
        value.backward()
        results.append((value.detach(), x.grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.allclose(results[0][1], results[1][1], rtol=0, atol=ATOL[dtype])


def test_hand_value_thin_line_and_constant_prediction():
    """p = 0.5 everywhere: L = log 2 per pixel; the constant map has an empty soft skeleton; a 1-px
    line is its own soft skeleton (erosion removes it, so open = 0). clCE = log 2 · 5 / (7·9)."""
    target = torch.zeros(1, 7, 9, dtype=torch.int64)
    target[0, 3, 2:7] = 1
    value = build_loss("clce")(torch.zeros(1, 2, 7, 9, dtype=torch.float64), target)
    assert value.item() == pytest.approx(math.log(2) * 5 / 63, rel=1e-15)


def test_empty_and_full_targets():
    """A full label's soft skeleton is empty (the border does not erode), so is an empty one's: only
    the prediction-skeleton term remains; with a constant prediction the loss is 0."""
    for fill in (0, 1):
        target = torch.full((2, 10, 12), fill, dtype=torch.int64)
        assert build_loss("clce")(torch.zeros(2, 2, 10, 12), target).item() == 0.0
        logits, _ = official_case(4)
        logits = logits[:, :, :10, :12]
        expected = oracle_clce(logits, target)
        per_pixel = F.cross_entropy(logits, target, reduction="none")
        skel_p = oracle_skel(logits.softmax(1), 3)[:, 1]
        assert expected.item() == pytest.approx((per_pixel * skel_p).mean().item(), rel=1e-14)
        assert build_loss("clce")(logits, target).item() == expected.item()


def test_prediction_skeleton_is_not_detached():
    """The gradient differs from the one with a detached prediction skeleton (official: not detached)."""
    logits, target = official_case(0)
    x = logits.clone().requires_grad_()
    centerline_ce(x, target).backward()
    y = logits.clone().requires_grad_()
    per_pixel = F.cross_entropy(y, target, reduction="none")
    skel_y = oracle_skel(F.one_hot(target, 2).permute(0, 3, 1, 2).double(), 3)[:, 1]
    skel_p = oracle_skel(y.softmax(1), 3)[:, 1].detach()
    ((per_pixel * skel_y).mean() + (per_pixel * skel_p).mean()).backward()
    assert (x.grad - y.grad).abs().max() > 1e-6


def test_iters_changes_the_value_and_bad_values_raise():
    logits, target = official_case(0)
    assert build_loss("clce", iters=1)(logits, target) != build_loss("clce")(logits, target)
    assert build_loss("clce", iters=1)(logits, target).item() == oracle_clce(logits, target, iters=1).item()
    for bad in (-1, 1.5):
        with pytest.raises(ValueError, match="iters"):
            build_loss("clce", iters=bad)


def test_gradcheck_float64():
    logits, target = official_case(5)
    x = logits[:1, :, :9, :11].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda t: centerline_ce(t, target[:1, :9, :11]), (x,))


def test_convergence_free_logits():
    _, target = official_case(3)
    logits = torch.zeros(2, 2, 24, 28, requires_grad=True)
    loss = build_loss("clce")
    optimizer = torch.optim.Adam([logits], lr=0.1)
    first = loss(logits, target).item()
    for _ in range(30):
        optimizer.zero_grad()
        value = loss(logits, target)
        value.backward()
        optimizer.step()
    assert value.item() < 0.1 * first
    label_skeleton = oracle_skel(F.one_hot(target, 2).permute(0, 3, 1, 2).float(), 3)[:, 1] > 0
    assert (logits.argmax(1)[label_skeleton] == 1).all()  # the label's centre lines are predicted
