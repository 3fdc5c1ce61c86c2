"""skeleton_recall (losses/skeleton_recall.py) against the official code's construction, docs/MODERN_LOSSES.md §skeleton_recall.

The oracle follows MIC-DKFZ/Skeleton-Recall @ f259f63c line by line: ``SkeletonTransform.apply`` (skimage
skeletonize, two default-footprint dilations, times the label, int16) and
``SoftSkeletonRecallLoss.forward`` (one-hot by scatter into the skeleton's dtype, sums over H, W then
the batch, ``clip(Σs + smooth, 1e-8)``). Reference numbers were produced by running the fetched official
modules (dice.py, skeletonization.py; ddp all-gather stubbed out, ddp=False) on :func:`official_case`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.morphology import dilation, skeletonize

from losses import build_loss
from losses.skeleton_recall import skeleton_recall_loss, tubed_skeleton, tubed_skeletons
from tests.loss_cases import official_case


def oracle_tube(seg: np.ndarray) -> np.ndarray:
    bin_seg = seg > 0
    out = np.zeros_like(bin_seg, dtype=np.int16)
    if not np.sum(bin_seg) == 0:
        skel = (skeletonize(bin_seg) > 0).astype(np.int16)
        skel = dilation(dilation(skel))  # skimage's default footprint
        skel *= seg.astype(np.int16)
        out = skel
    return out


def oracle_loss(logits, target, batch_dice=True, smooth=1e-5):
    x = torch.softmax(logits, 1)[:, 1:]
    y = torch.from_numpy(np.stack([oracle_tube(t) for t in target.numpy()]))[:, None]
    with torch.no_grad():
        onehot = torch.zeros(x.shape[0], 2, *x.shape[2:], dtype=y.dtype)
        onehot.scatter_(1, y.long(), 1)
        onehot = onehot[:, 1:]
        sum_gt = onehot.sum((2, 3))
    inter = (x * onehot).sum((2, 3))
    if batch_dice:
        inter, sum_gt = inter.sum(0), sum_gt.sum(0)
    return -((inter + smooth) / torch.clip(sum_gt + smooth, 1e-8)).mean()


def test_official_reference_numbers():
    """Values of the official SoftSkeletonRecallLoss(batch_dice, smooth=1e-5, do_bg=False) on official_case(0)."""
    logits, target = official_case(0)
    assert build_loss("skeleton_recall")(logits.float(), target).item() == -0.50401109457015991
    assert build_loss("skeleton_recall")(logits, target).item() == -0.50401114462458474
    assert build_loss("skeleton_recall", batch_dice=False)(logits, target).item() == -0.50440364897682011


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch_dice", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_and_gradient_match_the_oracle(seed, batch_dice, dtype):
    logits, target = official_case(seed)
    if seed == 1:  # a prediction close to the label
        logits[:, 1] += 4 * (2 * target - 1)
    results = []
    for fn in (
        build_loss("skeleton_recall", batch_dice=batch_dice),
        lambda lg, t: oracle_loss(lg, t, batch_dice),
    ):
        x = logits.to(dtype).requires_grad_()
        value = fn(x, target)
        value.backward()
        results.append((value.detach(), x.grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_tube_of_a_thin_line_is_the_line_and_a_hand_value():
    """A 1-px line is its own skeleton; the tube is cut back to the label: s = line (5 px).

    With p = 0.3 everywhere: rec = (5·0.3 + 1e-5)/(5 + 1e-5), denominator in float32 (quirk).
    """
    target = torch.zeros(1, 7, 9, dtype=torch.int64)
    target[0, 3, 2:7] = 1
    assert np.array_equal(tubed_skeleton(target[0].numpy()), target[0].numpy().astype(np.int16))
    p = torch.full((1, 7, 9), 0.3, dtype=torch.float64)
    logits = torch.stack((torch.zeros_like(p), torch.logit(p)), 1)
    expected = -(5 * 0.3 + 1e-5) / float(np.float32(5) + np.float32(1e-5))
    assert build_loss("skeleton_recall")(logits, target).item() == pytest.approx(expected, rel=1e-15, abs=0)


def test_tube_is_two_cross_dilations_inside_the_label():
    """A 5-px-thick bar: skeleton = centre row (away from the ends); two cross dilations reach ±2 rows."""
    mask = np.zeros((9, 15), bool)
    mask[2:7, 1:14] = True
    tube = tubed_skeleton(mask)
    assert tube.dtype == np.int16
    assert np.array_equal(tube, oracle_tube(mask.astype(np.int64)))
    assert tube[2:7, 7].tolist() == [1, 1, 1, 1, 1]  # the centre column: rows 4 ± 2
    assert not tube[~mask].any()


def test_float64_denominator_is_float32_quirk():
    """Σs is an integer sum: ``Σs + smooth`` is float32 in the official code, also for float64 logits."""
    target = torch.zeros(1, 7, 9, dtype=torch.int64)
    target[0, 3, 2:7] = 1
    logits = torch.zeros(1, 2, 7, 9, dtype=torch.float64)  # p = 0.5
    value = build_loss("skeleton_recall")(logits, target).item()
    assert value == -(2.5 + 1e-5) / float(np.float32(5 + 1e-5))
    assert abs(value - (-(2.5 + 1e-5) / (5 + 1e-5))) > 1e-13


def test_empty_and_full_targets():
    """Empty label: no skeleton, the loss is −smooth/smooth whatever p, with zero gradient: −1 in
    float32, −1e-5/float32(1e-5) in float64 (the float32 denominator quirk). Full label: skimage pads with background, so the skeleton is not empty and the loss depends on p."""
    logits = torch.randn(2, 2, 12, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    logits.requires_grad_()
    empty = build_loss("skeleton_recall")(logits, torch.zeros(2, 12, 12, dtype=torch.int64))
    empty.backward()
    assert empty.item() == -1e-5 / float(np.float32(1e-5)) and logits.grad.abs().max().item() == 0.0
    assert (
        build_loss("skeleton_recall")(logits.float(), torch.zeros(2, 12, 12, dtype=torch.int64)).item()
        == -1.0
    )
    full = torch.ones(2, 12, 12, dtype=torch.int64)
    assert tubed_skeletons(full).sum() > 0
    loss = build_loss("skeleton_recall")
    assert loss(torch.zeros(2, 2, 12, 12), full).item() == pytest.approx(-0.5, abs=1e-5)
    assert -1 <= loss(logits, full).item() < 0


def test_batch_dice_changes_the_value():
    logits, target = official_case(0)
    assert build_loss("skeleton_recall")(logits, target) != build_loss("skeleton_recall", batch_dice=False)(
        logits, target
    )
    assert build_loss("skeleton_recall", smooth=1.0)(logits, target) != build_loss("skeleton_recall")(
        logits, target
    )


def test_gradcheck_float64():
    logits, target = official_case(2)
    s = tubed_skeletons(target)
    x = logits[:, :, :10, :12].clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: skeleton_recall_loss(torch.softmax(t, 1)[:, 1], s[:, :10, :12]), (x,)
    )


def test_convergence_free_logits():
    _, target = official_case(3)
    logits = torch.zeros(2, 2, 24, 28, requires_grad=True)
    loss = build_loss("skeleton_recall")
    optimizer = torch.optim.Adam([logits], lr=0.1)
    first = loss(logits, target).item()
    for _ in range(30):
        optimizer.zero_grad()
        value = loss(logits, target)
        value.backward()
        optimizer.step()
    assert first == pytest.approx(-0.5, abs=1e-4)
    assert value.item() < -0.95


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="smooth"):
        build_loss("skeleton_recall", smooth=-1.0)
    with pytest.raises(ValueError, match="target values"):
        build_loss("skeleton_recall")(torch.zeros(1, 2, 4, 4), torch.full((1, 4, 4), 2))
