"""Lovász-Softmax (``losses/lovasz.py``), docs/MODERN_LOSSES.md §lovasz.

References: a hand-computed two-pixel case; a literal pure-Python oracle of the official
``lovasz_softmax`` (Alg. 1 of the paper, loops, stable sort) for values, and its analytic
gradient in numpy; numbers produced by the official code itself (bermanmaxim/LovaszSoftmax
@ 7d48792d, ``pytorch/lovasz_losses.py::lovasz_softmax(softmax(logits, 1), target, classes,
per_image)``, run on CPU with torch 2.14.1 in float32 on :func:`fixed_inputs`).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from losses import LOSSES, build_loss
from losses.lovasz import LovaszLoss, lovasz_jaccard_weights
from tests.loss_cases import descend


def fixed_inputs(dtype=torch.float32, empty_second=False) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic logits ``(2,2,6,7)`` and thin-structure target ``(2,6,7)`` (no RNG)."""
    b, h, w = 2, 6, 7
    idx = torch.arange(b * 2 * h * w, dtype=torch.float64)
    logits = (3 * torch.sin(1.3 * idx + 0.5)).reshape(b, 2, h, w).to(dtype)
    target = (torch.cos(0.7 * torch.arange(b * h * w, dtype=torch.float64)) > 0.2).long().reshape(b, h, w)
    if empty_second:
        target[1] = 0
    return logits, target


def random_inputs(batch=2, h=5, w=6, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    logits = (2 * torch.randn(batch, 2, h, w, generator=gen)).to(dtype)
    target = (torch.rand(batch, h, w, generator=gen) > 0.6).long()
    return logits, target


# --------------------------------------------------------------------------- oracle


def oracle_class_weights(fg_sorted: list[float]) -> list[float]:
    """Alg. 1 of the paper with loops: g_1 = J_1, g_k = J_k − J_{k−1}."""
    total = sum(fg_sorted)
    jac, cum_fg, cum_bg = [], 0.0, 0.0
    for f in fg_sorted:
        cum_fg += f
        cum_bg += 1 - f
        jac.append(1 - (total - cum_fg) / (total + cum_bg))
    return [jac[0]] + [jac[k] - jac[k - 1] for k in range(1, len(jac))]


def oracle_flat(probs: np.ndarray, labels: np.ndarray, classes: str):
    """Value and d/dprobs of the official ``lovasz_softmax_flat`` on ``(P, C)`` numpy inputs."""
    values, grad, used = [], np.zeros_like(probs), []
    for c in range(probs.shape[1]):
        fg = (labels == c).astype(float)
        if classes == "present" and fg.sum() == 0:
            continue
        errors = np.abs(fg - probs[:, c])
        order = sorted(range(len(errors)), key=lambda i: -errors[i])
        g = oracle_class_weights([fg[i] for i in order])
        values.append(sum(errors[i] * gk for i, gk in zip(order, g)))
        for i, gk in zip(order, g):
            grad[i, c] = np.sign(probs[i, c] - fg[i]) * gk
        used.append(c)
    return float(np.mean(values)), grad / len(used)


def oracle(logits: torch.Tensor, target: torch.Tensor, classes="present", per_image=False):
    """Value and d/dlogits of the official loss (numpy, float64), through the softmax by hand."""
    z = logits.detach().double().numpy()
    probs = np.exp(z - z.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    groups = [[b] for b in range(len(z))] if per_image else [list(range(len(z)))]
    value, dprobs = 0.0, np.zeros_like(probs)
    for images in groups:
        flat = probs[images].transpose(0, 2, 3, 1).reshape(-1, 2)
        v, g = oracle_flat(flat, target[images].numpy().reshape(-1), classes)
        value += v / len(groups)
        dprobs[images] = g.reshape(len(images), *z.shape[2:], 2).transpose(0, 3, 1, 2) / len(groups)
    inner = (dprobs * probs).sum(1, keepdims=True)
    return value, probs * (dprobs - inner)


def value_and_grad(loss, logits, target):
    x = logits.clone().requires_grad_()
    value = loss(x, target)
    value.backward()
    return value.detach(), x.grad


# --------------------------------------------------------------------------- values


def test_two_pixels_by_hand():
    """p₁ = (0.8, 0.3), y = (1, 0). Class 1: errors (0.2, 0.3), sorted (0.3 bg, 0.2 fg), G = 1,
    J = (1 − 1/2, 1 − 0/2) = (0.5, 1), g = (0.5, 0.5): 0.25. Class 0: same errors, the first
    sorted pixel is fg for class 0, J = (1 − 0/1, 1 − 0/2) = (1, 1), g = (1, 0): 0.3. Mean 0.275."""
    p1 = torch.tensor([0.8, 0.3], dtype=torch.float64)
    logits = torch.stack([torch.zeros(2, dtype=torch.float64), torch.log(p1 / (1 - p1))]).view(1, 2, 1, 2)
    target = torch.tensor([[[1, 0]]])
    assert build_loss("lovasz")(logits, target).item() == pytest.approx(0.275, abs=1e-12)


def test_jaccard_weights_by_hand():
    """fg sorted (1, 0, 1): G = 2, J = (1 − 1/2, 1 − 1/3, 1 − 0/3) → g = (1/2, 1/6, 1/3)."""
    g = lovasz_jaccard_weights(torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))
    assert torch.allclose(g, torch.tensor([0.5, 1 / 6, 1 / 3], dtype=torch.float64), atol=1e-15)
    assert g.sum().item() == pytest.approx(1.0)  # telescopes to J_P = 1 when the class is present


# Official float32 values on fixed_inputs (see the module docstring for how they were produced).
OFFICIAL = {
    ("present", False, False): 0.6431507468223572,
    ("present", True, False): 0.6438567042350769,
    ("all", False, False): 0.6431507468223572,
    ("all", True, False): 0.6438567042350769,
    ("present", False, True): 0.6908738613128662,  # second image empty
    ("present", True, True): 0.587989866733551,
    ("all", False, True): 0.6908738613128662,
    ("all", True, True): 0.706507682800293,  # 'all': the empty image's absent class counts
}
OFFICIAL_GRAD = {  # d/dlogits[0, 1, 0, :3], official, float32
    False: [-0.00022491480922326446, -0.0005125434836372733, 0.0008264168864116073],
    True: [-0.00023327727103605866, -0.0005029669846408069, 0.0007810089155100286],
}


@pytest.mark.parametrize(("classes", "per_image", "empty_second"), sorted(OFFICIAL))
def test_equals_the_official_float32_values(classes, per_image, empty_second):
    logits, target = fixed_inputs(torch.float32, empty_second)
    loss = build_loss("lovasz", classes=classes, per_image=per_image)
    value, grad = value_and_grad(loss, logits, target)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(OFFICIAL[classes, per_image, empty_second], rel=1e-6)
    if not empty_second:
        assert grad[0, 1, 0, :3].tolist() == pytest.approx(OFFICIAL_GRAD[per_image], rel=1e-5, abs=1e-9)
    # float64 computes the same formula (the official code is float32-only)
    value64 = loss(logits.double(), target)
    assert value64.dtype == torch.float64 and value64.item() == pytest.approx(value.item(), rel=1e-6)


@pytest.mark.parametrize("classes", ["present", "all"])
@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_and_gradient_equal_the_oracle(classes, per_image, seed):
    logits, target = random_inputs(seed=seed)
    if seed == 2:
        target[0] = 0  # an empty image: 'present' and 'all' differ per image
    value, grad = value_and_grad(build_loss("lovasz", classes=classes, per_image=per_image), logits, target)
    expected_value, expected_grad = oracle(logits, target, classes, per_image)
    assert value.item() == pytest.approx(expected_value, abs=1e-12)
    assert torch.allclose(grad, torch.from_numpy(expected_grad), atol=1e-12)
    value32, grad32 = value_and_grad(
        build_loss("lovasz", classes=classes, per_image=per_image), logits.float(), target
    )
    assert value32.item() == pytest.approx(expected_value, rel=1e-5)
    assert torch.allclose(grad32.double(), torch.from_numpy(expected_grad), atol=1e-6)


# --------------------------------------------------------------------------- limits and options


def test_empty_and_full_targets_use_the_one_present_class():
    """Empty target: only class 0 is present; full target: only class 1; 'all' adds the absent class,
    whose weights are (1, 0, …, 0), i.e. its largest error."""
    logits, _ = random_inputs(seed=3)
    p = torch.softmax(logits, 1)
    for fill, absent in [(0, 1), (1, 0)]:
        target = torch.full((2, 5, 6), fill, dtype=torch.int64)
        present = build_loss("lovasz")(logits, target).item()
        assert present == pytest.approx(oracle(logits, target)[0], abs=1e-12)
        absent_error = (p[:, absent]).max().item()  # |0 − p_absent|, largest first
        both = build_loss("lovasz", classes="all")(logits, target).item()
        assert both == pytest.approx((present + absent_error) / 2, abs=1e-12)


def test_perfect_prediction_gives_zero_and_worst_gives_one():
    _, target = random_inputs(seed=4)
    sign = 2 * target.double() - 1
    perfect = torch.stack([-50 * sign, 50 * sign], 1)
    assert build_loss("lovasz")(perfect, target).item() == pytest.approx(0.0, abs=1e-15)
    assert build_loss("lovasz")(-perfect, target).item() == pytest.approx(1.0, abs=1e-15)


def test_classes_compared_by_value_not_identity():
    """Official quirk avoided: ``classes is 'present'`` fails for a string built at run time."""
    logits, target = fixed_inputs(torch.float64, empty_second=True)
    built = "".join(["pre", "sent"])
    a = build_loss("lovasz", per_image=True)(logits, target)
    b = build_loss("lovasz", classes=built, per_image=True)(logits, target)
    assert torch.equal(a, b)


def test_options_change_the_value_and_bad_options_raise():
    logits, target = fixed_inputs(torch.float64, empty_second=True)
    base = build_loss("lovasz")(logits, target)
    assert not torch.isclose(base, build_loss("lovasz", per_image=True)(logits, target))
    per_image_all = build_loss("lovasz", classes="all", per_image=True)(logits, target)
    assert not torch.isclose(build_loss("lovasz", per_image=True)(logits, target), per_image_all)
    with pytest.raises(ValueError, match="classes"):
        LovaszLoss(classes="some")
    assert LOSSES["lovasz"].required_maps == ()


def test_gradcheck_float64():
    logits, target = random_inputs(batch=2, h=3, w=4, seed=5)
    loss = build_loss("lovasz", per_image=True)
    assert torch.autograd.gradcheck(
        lambda x: loss(x, target), (logits.requires_grad_(),), eps=1e-6, atol=1e-7
    )


def test_converges_on_free_logits():
    _, target = random_inputs(batch=1, h=8, w=8, seed=6)
    logits = torch.zeros(1, 2, 8, 8, requires_grad=True)
    loss = build_loss("lovasz")
    history = descend(loss, logits, target)
    assert history[-1] < 0.5 * history[0] and math.isfinite(history[-1])
    assert torch.equal(logits.argmax(1), target)
