"""The baseline losses dice, focal, jaccard, tversky, wce, abw, rmi, cldice (and ce, bce).

Golden values of the paper-time code (../shared/reference/golden.npz), hand-computed values on
tiny inputs, the spec's clDice toy, limit cases that tie losses together, edges (empty, full,
saturated) and the constructor keywords. References: docs/METHOD.md §3, docs/BASELINES.md §3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from losses import LOSSES, build_loss
from losses.base import EPS
from losses.cldice import soft_skeleton, topology_precision_sensitivity
from losses.overlap import soft_confusion
from losses.rmi import rmi_bce, rmi_lower_bound, two_channel

BASELINES = ("dice", "focal", "jaccard", "tversky", "wce", "abw", "rmi", "cldice")
TVERSKY_PAIRS = ((0.5, 0.5), (0.4, 0.6), (0.3, 0.7), (0.2, 0.8), (0.1, 0.9))
FOCAL_GAMMAS = (1.5, 2.0, 2.5, 3.0)


def tag(x: float) -> str:
    """``1.5`` → ``"1p5"``, ``2.0`` → ``"2"`` (the golden file's key spelling)."""
    return f"{x:g}".replace(".", "p")


def logits_of(p) -> torch.Tensor:
    """Two-class logits ``(B,2,H,W)`` whose softmax class-1 probability is ``p`` ``(B,H,W)``."""
    p = torch.as_tensor(p, dtype=torch.float64)
    return torch.stack((torch.zeros_like(p), torch.logit(p)), dim=1)


def weights(c0: float, c1: float, batch: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor([[c0, c1]] * batch, dtype=dtype)


def golden_inputs(golden, dtype):
    suffix = "" if dtype == torch.float32 else "_f64"
    logits = torch.tensor(golden["case__logits"]).to(dtype)
    target = torch.tensor(golden["case__target"])
    maps = {
        "class_weight": torch.tensor(golden[f"case__class_weight{suffix}"]).to(dtype),
        "wce": torch.tensor(golden["case__unet_map"]).to(dtype),
        "abw": torch.tensor(golden["case__abw_map"]).to(dtype),
    }
    return logits, target, maps


def golden_cases():
    """(golden key stem, registered name, kwargs) for every baseline configuration the authors ran."""
    cases = [
        ("BCELoss", "ce", {}),
        ("BCE_withClassBalance", "bce", {}),
        ("DiceLoss", "dice", {}),
        ("JaccardLoss", "jaccard", {}),
        ("Unet_Weight_BCE", "wce", {}),
        ("WeightMapLoss_ABW", "abw", {}),
        ("RMILoss", "rmi", {}),
        ("soft_dice_cldice", "cldice", {}),
    ]
    cases += [(f"FocalLoss_g{tag(g)}", "focal", {"gamma": g}) for g in FOCAL_GAMMAS]
    cases += [
        (f"TverskyLoss_a{tag(a)}_b{tag(b)}", "tversky", {"alpha": a, "beta": b}) for a, b in TVERSKY_PAIRS
    ]
    return cases


# --------------------------------------------------------------------------- golden values


#: Golden stems with a float32 value only: the paper-time ABW and RMI code does not run in float64.
F32_ONLY = {"WeightMapLoss_ABW", "RMILoss"}


def golden_params():
    return [
        pytest.param(stem, name, kwargs, dtype, id=f"{stem}-{tag_}")
        for stem, name, kwargs in golden_cases()
        for dtype, tag_ in ((torch.float32, "f32"), (torch.float64, "f64"))
        if not (dtype == torch.float64 and stem in F32_ONLY)
    ]


@pytest.mark.parametrize(("stem", "name", "kwargs", "dtype"), golden_params())
def test_golden_value(golden, stem, name, kwargs, dtype):
    key = f"baseline__{stem}__{'f32' if dtype == torch.float32 else 'f64'}"
    logits, target, maps = golden_inputs(golden, dtype)
    value = build_loss(name, **kwargs)(logits, target, maps)
    assert value.dtype == dtype
    assert value.item() == pytest.approx(float(golden[key]), rel=1e-5)


def test_default_tversky_and_focal_are_the_papers_defaults(golden):
    logits, target, maps = golden_inputs(golden, torch.float32)
    assert build_loss("tversky")(logits, target, maps).item() == pytest.approx(
        float(golden["baseline__TverskyLoss_a0p3_b0p7__f32"]), rel=1e-5
    )
    assert build_loss("focal")(logits, target, maps).item() == pytest.approx(
        float(golden["baseline__FocalLoss_g2__f32"]), rel=1e-5
    )


@pytest.mark.parametrize("name", BASELINES + ("ce", "bce"))
def test_float32_gradient_matches_float64(golden, name):
    """The float32 gradient w.r.t. the logits agrees with the float64 one (rel. error < 1e-5)."""
    grads = {}
    for dtype in (torch.float32, torch.float64):
        logits, target, maps = golden_inputs(golden, dtype)
        logits.requires_grad_(True)
        build_loss(name)(logits, target, maps).backward()
        grads[dtype] = logits.grad.double()
    scale = grads[torch.float64].abs().max()
    assert scale > 0
    assert ((grads[torch.float32] - grads[torch.float64]).abs().max() / scale).item() < 1e-5


@pytest.mark.parametrize("name", BASELINES)
def test_gradcheck_float64(name):
    """Autograd agrees with finite differences in float64 on a small random case."""
    gen = torch.Generator().manual_seed(3)
    size = 9 if name == "rmi" else 5  # RMI needs a pooled map of at least 3x3
    logits = torch.randn(1, 2, size, size, generator=gen, dtype=torch.float64, requires_grad=True)
    target = (torch.rand(1, size, size, generator=gen) > 0.6).long()
    maps = {
        "class_weight": weights(1.0, 2.5),
        "wce": torch.rand(1, 1, size, size, generator=gen, dtype=torch.float64) * 10 * target[:, None],
        "abw": torch.stack(
            (1 + 10 * torch.rand(1, size, size, generator=gen, dtype=torch.float64), 30.0 * target.double()),
            dim=1,
        ),
    }
    loss = build_loss(name)
    # fast_mode checks random projections of the Jacobian: seconds instead of a minute for RMI.
    assert torch.autograd.gradcheck(
        lambda x: loss(x, target, maps), (logits,), eps=1e-6, atol=1e-6, fast_mode=True
    )


# --------------------------------------------------------------------------- hand-computed values

P2 = [[[0.75, 0.25]]]  # (1, 1, 2): a confident hit and a 25 % false alarm
Y2 = torch.tensor([[[1, 0]]])


def test_dice_hand_value():
    # Σpy = .75, Σy² = 1, Σp² = .625 in both classes: 1 − 1.5/(1.625 + ε).
    expected = 1 - 1.5 / (1.625 + EPS)
    assert build_loss("dice")(logits_of(P2), Y2).item() == pytest.approx(expected, rel=1e-12)


def test_dice_of_ones_against_half_overlap():
    # smp's hand check: p = [1,1,1,1] vs y = [1,1,0,0] gives class-1 Dice 2·2/(2+4) = 2/3;
    # the class-0 score is 0 (Σ(1−p)(1−y) = 0), so the two-class loss is 1 − ½·2/3.
    p = torch.tensor([[[1.0, 1.0, 1.0, 1.0]]], dtype=torch.float64)
    logits = torch.stack((torch.full_like(p, -50.0), torch.full_like(p, 50.0)), dim=1)
    y = torch.tensor([[[1, 1, 0, 0]]])
    expected = 1 - 0.5 * (4 / (6 + EPS) + 0.0)
    assert build_loss("dice")(logits, y).item() == pytest.approx(expected, rel=1e-12)


def test_jaccard_hand_value():
    # Σpy = .75 and Σ(p + y − py) = 1.25 in both classes: 1 − .75/(1.25 + ε).
    expected = 1 - 0.75 / (1.25 + EPS)
    assert build_loss("jaccard")(logits_of(P2), Y2).item() == pytest.approx(expected, rel=1e-12)


def test_tversky_hand_value():
    p = [[[0.75, 0.5, 0.25]]]
    y = torch.tensor([[[1, 1, 0]]])
    tp, fp, fn, tn = 1.25, 0.25, 0.75, 0.75
    a, b = 0.3, 0.7
    expected = 1 - 0.5 * (tp / (tp + a * fp + b * fn + EPS) + tn / (tn + a * fn + b * fp + EPS))
    assert build_loss("tversky")(logits_of(p), y).item() == pytest.approx(expected, rel=1e-12)
    counts = soft_confusion(torch.tensor(p, dtype=torch.float64), y.double())
    assert [c.item() for c in counts] == pytest.approx([tp, fp, fn, tn])


def test_focal_hand_value():
    # −½[3·(1−.75)²·log(.75+ε) + 1·.25²·log(1−.25+ε)] with (c0, c1) = (1, 3), γ = 2.
    expected = -0.5 * (3 * 0.25**2 + 1 * 0.25**2) * math.log(0.75 + EPS)
    value = build_loss("focal")(logits_of(P2), Y2, {"class_weight": weights(1.0, 3.0)})
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_wce_hand_value():
    # Border map 2 on the class-1 pixel: −½[(2 + 3)·log(.75+ε) + 1·log(.75+ε)].
    maps = {"class_weight": weights(1.0, 3.0), "wce": torch.tensor([[[[2.0, 0.0]]]], dtype=torch.float64)}
    expected = -0.5 * 6 * math.log(0.75 + EPS)
    assert build_loss("wce")(logits_of(P2), Y2, maps).item() == pytest.approx(expected, rel=1e-12)


def test_wce_map_only_acts_on_class_one_pixels():
    maps = {"class_weight": weights(1.0, 3.0), "wce": torch.tensor([[[[0.0, 0.0]]]], dtype=torch.float64)}
    base = build_loss("wce")(logits_of(P2), Y2, maps)
    maps["wce"] = torch.tensor([[[[0.0, 7.0]]]], dtype=torch.float64)  # on the class-0 pixel: ignored
    assert build_loss("wce")(logits_of(P2), Y2, maps).item() == pytest.approx(base.item(), rel=1e-12)
    assert base.item() == pytest.approx(build_loss("bce")(logits_of(P2), Y2, maps).item(), rel=1e-12)


def test_abw_hand_value():
    # Class-1 pixel: obj 30 ≥ bck 1 → weight 30 on −log p; class-0 pixel: bck 5 on −log(1−p).
    p = [[[0.75, 0.5]]]
    abw = torch.tensor([[[[1.0, 5.0]], [[30.0, 0.0]]]], dtype=torch.float64)  # (1, 2, 1, 2): [bck, obj]
    expected = (-30 * math.log(0.75) - 5 * math.log(0.5)) / 35
    assert build_loss("abw")(logits_of(p), Y2, {"abw": abw}).item() == pytest.approx(expected, rel=1e-12)


def test_abw_method4_rule_on_a_class_one_pixel_with_low_obj():
    # The repo's rule, literally: obj < bck on a class-1 pixel gives it the bck weight on −log(1−p).
    p = [[[0.75, 0.5]]]
    abw = torch.tensor([[[[4.0, 5.0]], [[3.0, 0.0]]]], dtype=torch.float64)
    expected = (-4 * math.log(0.25) - 5 * math.log(0.5)) / 9
    assert build_loss("abw")(logits_of(p), Y2, {"abw": abw}).item() == pytest.approx(expected, rel=1e-12)


def test_abw_all_zero_weights_are_defined_as_zero():
    abw = torch.zeros(1, 2, 1, 2, dtype=torch.float64)
    logits = logits_of(P2).requires_grad_(True)
    value = build_loss("abw")(logits, Y2, {"abw": abw})
    value.backward()
    assert value.item() == 0.0
    assert torch.isfinite(logits.grad).all()


def test_rmi_bce_is_twice_ce_over_n_plus_one():
    # Σ over both channels of −[t log x + (1−t) log(1−x)] = 2·Σ CE per pixel, divided by N + 1.
    p = torch.tensor([[[0.75, 0.25, 0.6]]], dtype=torch.float64)
    y = torch.tensor([[[1.0, 0.0, 1.0]]], dtype=torch.float64)
    per_pixel = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    expected = 2 * per_pixel.sum().item() / (3 + 1)
    assert rmi_bce(two_channel(p), two_channel(y)).item() == pytest.approx(expected, rel=1e-12)


def test_rmi_bce_clamps_logs_at_minus_100():
    # A saturated wrong prediction costs 100 per channel (PyTorch's clamp), not inf.
    p = torch.tensor([[[0.0]]], dtype=torch.float64)
    y = torch.tensor([[[1.0]]], dtype=torch.float64)
    assert rmi_bce(two_channel(p), two_channel(y)).item() == pytest.approx(200 / 2)


def rmi_term_oracle(labels: np.ndarray, probs: np.ndarray, radius=3, pool=3, alpha=5e-4) -> float:
    """Independent float64 RMI lower bound with explicit loops (docs/BASELINES.md §3.10 steps 1–6)."""
    b, c, h, w = labels.shape
    ph, pw = (h + 2 * (pool // 2) - pool) // pool + 1, (w + 2 * (pool // 2) - pool) // pool + 1

    def max_pool(x):
        pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
        return np.array(
            [
                [
                    [
                        [
                            pad[i, k, r * pool : r * pool + pool, s * pool : s * pool + pool].max()
                            for s in range(pw)
                        ]
                        for r in range(ph)
                    ]
                    for k in range(c)
                ]
                for i in range(b)
            ]
        )

    la, pr = max_pool(labels), max_pool(probs)
    total = 0.0
    for k in range(c):
        per_image = []
        for i in range(b):
            ys = [
                la[i, k, dy : dy + ph - radius + 1, dx : dx + pw - radius + 1].ravel()
                for dy in range(radius)
                for dx in range(radius)
            ]
            ps = [
                pr[i, k, dy : dy + ph - radius + 1, dx : dx + pw - radius + 1].ravel()
                for dy in range(radius)
                for dx in range(radius)
            ]
            y_vec, p_vec = np.array(ys), np.array(ps)
            y_vec = y_vec - y_vec.mean(axis=1, keepdims=True)
            p_vec = p_vec - p_vec.mean(axis=1, keepdims=True)
            eye = np.eye(radius * radius)
            cov_yp = y_vec @ p_vec.T
            cond = y_vec @ y_vec.T - cov_yp @ np.linalg.inv(p_vec @ p_vec.T + alpha * eye) @ cov_yp.T
            per_image.append(0.5 * np.linalg.slogdet(cond + alpha * eye)[1])
        total += np.mean(per_image) / radius**2
    return total


def test_rmi_term_matches_an_independent_oracle():
    gen = torch.Generator().manual_seed(0)
    p = torch.rand(2, 20, 17, generator=gen, dtype=torch.float64)
    y = (torch.rand(2, 20, 17, generator=gen) > 0.5).double()
    labels, probs = two_channel(y), two_channel(p) + 1e-6
    value = rmi_lower_bound(labels, probs).item()
    # The only difference is the repo's +1e-8 on diag(L): relative effect ~1e-7 here.
    assert value == pytest.approx(rmi_term_oracle(labels.numpy(), probs.numpy()), rel=1e-6)


def test_rmi_total_is_lambda_mix():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(1, 2, 12, 12, generator=gen, dtype=torch.float64)
    y = (torch.rand(1, 12, 12, generator=gen) > 0.5).long()
    p = torch.softmax(logits, 1)[:, 1]
    bce = rmi_bce(two_channel(p), two_channel(y.double()))
    term = rmi_lower_bound(two_channel(y.double()), two_channel(p) + 1e-6)
    for lam in (0.0, 0.25, 1.0):
        value = build_loss("rmi", weight_lambda=lam)(logits, y).item()
        assert value == pytest.approx((lam * bce + (1 - lam) * term).item(), rel=1e-12)


def test_rmi_term_is_lowest_for_the_perfect_prediction():
    gen = torch.Generator().manual_seed(2)
    y = (torch.rand(1, 24, 24, generator=gen) > 0.5).double()
    labels = two_channel(y)
    perfect = rmi_lower_bound(labels, labels + 1e-6)
    for _ in range(3):
        noisy = rmi_lower_bound(
            labels, two_channel(torch.rand(1, 24, 24, generator=gen, dtype=torch.float64)) + 1e-6
        )
        assert perfect < noisy


def test_cldice_spec_toy_cross():
    """docs/BASELINES.md §3.11 toy: a 9x9 one-pixel cross with one arm weakened.

    Target: the full-width cross (row 4 and column 4, 17 pixels). Its soft skeleton is the
    cross without the centre's four neighbours (13 pixels; 3 on each arm plus the centre).
    Prediction: 0.9 on the cross, the right arm (4 pixels) weakened to 0.4, a faint 0.08444
    elsewhere. The prediction's skeleton stays on the cross (Tprec = 1 exactly), the target's
    skeleton sees (10·0.9 + 3·0.4 + 1)/(13 + 1) = 0.8; the faint background sets the Dice part.
    """
    g = torch.zeros(1, 9, 9, dtype=torch.float64)
    g[0, 4, :] = 1
    g[0, :, 4] = 1
    p = torch.full((1, 9, 9), 0.08444, dtype=torch.float64)
    p[0, 4, :] = 0.9
    p[0, :, 4] = 0.9
    p[0, 4, 5:] = 0.4
    skel_g = soft_skeleton(g[:, None])[0, 0]
    expected_skel = g[0].clone()
    expected_skel[[3, 5, 4, 4], [4, 4, 3, 5]] = 0
    assert torch.equal(skel_g, expected_skel)
    tprec, tsens = topology_precision_sensitivity(p, g)
    assert tprec.item() == pytest.approx(1.0, abs=1e-12)
    assert tsens.item() == pytest.approx(0.8, abs=1e-12)
    loss = build_loss("cldice")
    dice_only = build_loss("cldice", alpha=0.0)
    assert dice_only(logits_of(p), g.long()).item() == pytest.approx(0.24804, abs=5e-6)
    assert loss(logits_of(p), g.long()).item() == pytest.approx(0.17958, abs=5e-6)


def test_soft_skeleton_of_a_thick_bar_is_its_centre_line():
    x = torch.zeros(1, 1, 7, 11, dtype=torch.float64)
    x[..., 2:5, 1:10] = 1  # a 3-pixel-thick horizontal bar
    skel = soft_skeleton(x)[0, 0]
    assert skel[3, 2:9].eq(1).all()
    assert skel[2].eq(0).all() and skel[4].eq(0).all()


# --------------------------------------------------------------------------- limit cases


def random_case(seed=0, batch=2, size=8, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, 2, size, size, generator=gen, dtype=dtype)
    target = (torch.rand(batch, size, size, generator=gen) > 0.7).long()
    return logits, target


def test_focal_gamma_zero_is_balanced_ce():
    logits, target = random_case()
    maps = {"class_weight": torch.tensor([[1.0, 4.0], [1.5, 1.0]], dtype=torch.float64)}
    focal = build_loss("focal", gamma=0.0)(logits, target, maps)
    assert focal.item() == pytest.approx(build_loss("bce")(logits, target, maps).item(), rel=1e-12)


def test_tversky_half_half_is_the_dice_form_without_squares():
    logits, target = random_case(1)
    p = torch.softmax(logits, 1)[:, 1]
    y = target.double()

    def linear_dice(a, b):  # 2Σab / (Σa + Σb + 2ε): Dice without squares in the denominator
        return 2 * (a * b).sum() / (a.sum() + b.sum() + 2 * EPS)

    expected = 1 - 0.5 * (linear_dice(p, y) + linear_dice(1 - p, 1 - y))
    value = build_loss("tversky", alpha=0.5, beta=0.5)(logits, target)
    assert value.item() == pytest.approx(expected.item(), rel=1e-12)


def test_uniform_class_weights_turn_bce_into_ce():
    logits, target = random_case(2)
    maps = {"class_weight": weights(1.0, 1.0, batch=2)}
    assert build_loss("bce")(logits, target, maps).item() == pytest.approx(
        build_loss("ce")(logits, target).item(), rel=1e-12
    )


def test_wce_with_a_zero_map_is_bce():
    logits, target = random_case(3)
    maps = {"class_weight": weights(1.0, 3.0, batch=2), "wce": torch.zeros(2, 1, 8, 8, dtype=torch.float64)}
    assert build_loss("wce")(logits, target, maps).item() == pytest.approx(
        build_loss("bce")(logits, target, maps).item(), rel=1e-12
    )


def test_class_weights_are_per_image():
    """A batch's loss is the mean of its images' losses, each with its own (c0, c1) (§4.4)."""
    logits, target = random_case(4)
    cw = torch.tensor([[1.0, 5.0], [2.0, 1.0]], dtype=torch.float64)
    for name in ("focal", "wce"):
        maps = {"class_weight": cw, "wce": torch.rand(2, 1, 8, 8, dtype=torch.float64)}
        loss = build_loss(name)
        batch = loss(logits, target, maps).item()
        singles = [
            loss(logits[i : i + 1], target[i : i + 1], {k: v[i : i + 1] for k, v in maps.items()})
            for i in range(2)
        ]
        assert batch == pytest.approx(0.5 * sum(s.item() for s in singles), rel=1e-12)


def test_overlap_losses_use_whole_batch_sums():
    """Dice of a batch is not the mean of per-image Dice: the sums pool the pixels."""
    logits, target = random_case(5)
    dice = build_loss("dice")
    # The two images side by side as one (1, 2, 16, 8) image: the same pixel sums.
    pooled = dice(torch.cat(tuple(logits), dim=1)[None], torch.cat(tuple(target), dim=0)[None]).item()
    assert dice(logits, target).item() == pytest.approx(pooled, rel=1e-12)
    per_image = 0.5 * (dice(logits[:1], target[:1]) + dice(logits[1:], target[1:])).item()
    assert abs(dice(logits, target).item() - per_image) > 1e-6


def test_perfect_predictions_reach_the_minimum():
    target = torch.zeros(1, 9, 9, dtype=torch.long)
    target[0, 3:6] = 1
    logits = torch.stack((-60.0 * (2 * target - 1), 60.0 * (2 * target - 1)), 1).double()
    # Only the ε in the denominators keeps them off 0 (ε/Σ ≈ 1e-9).
    for name in ("dice", "jaccard", "tversky", "cldice"):
        assert build_loss(name)(logits, target).item() == pytest.approx(0.0, abs=1e-8)


# --------------------------------------------------------------------------- edges


def edge_maps(target: torch.Tensor, dtype) -> dict[str, torch.Tensor]:
    """Valid maps for any target (one-class crops keep (1, 1) class weights, §4.4)."""
    b = target.shape[0]
    y = target.to(dtype)[:, None]
    return {
        "class_weight": weights(1.0, 1.0, batch=b, dtype=dtype),
        "wce": 5.0 * y,
        "abw": torch.cat((1.0 + 0 * y, 30.0 * y), dim=1),
    }


@pytest.mark.parametrize("fill", ["empty", "full", "half"])
@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("logit_scale", [1.0, 200.0], ids=["soft", "saturated"])
def test_edge_targets_and_saturated_probabilities_stay_finite(name, fill, logit_scale):
    """Empty/full/one-class targets and p of exactly 0 or 1 (float32) give finite values and gradients."""
    size = 12
    target = torch.zeros(2, size, size, dtype=torch.long)
    if fill == "full":
        target[:] = 1
    elif fill == "half":
        target[0] = 1  # a batch of one all-class-1 crop and one all-class-0 crop
    gen = torch.Generator().manual_seed(7)
    logits = (logit_scale * torch.randn(2, 2, size, size, generator=gen)).requires_grad_(True)
    if logit_scale > 1:
        p = torch.softmax(logits.detach(), 1)[:, 1]
        assert (p == 0).any() and (p == 1).any()  # the case really saturates
    value = build_loss(name)(logits, target, edge_maps(target, torch.float32))
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(logits.grad).all()


def test_rmi_rejects_images_too_small_for_its_neighbourhood():
    logits, target = random_case(size=6)  # pooled to 2x2 < radius 3
    with pytest.raises(ValueError, match="smaller than the 3x3 neighbourhood"):
        build_loss("rmi")(logits, target)


@pytest.mark.parametrize(("name", "missing"), [("wce", "wce"), ("abw", "abw"), ("focal", "class_weight")])
def test_missing_maps_are_named(name, missing):
    logits, target = random_case()
    maps = {} if missing == "class_weight" else {"class_weight": weights(1.0, 2.0, batch=2)}
    with pytest.raises(KeyError, match=missing):
        build_loss(name)(logits, target, maps)


def test_wrong_map_shape_is_rejected():
    logits, target = random_case()
    with pytest.raises(ValueError, match="abw"):
        build_loss("abw")(logits, target, {"abw": torch.ones(2, 1, 8, 8, dtype=torch.float64)})


# --------------------------------------------------------------------------- constructor keywords

KEYWORDS = [
    ("tversky", "alpha", 0.6),
    ("tversky", "beta", 0.2),
    ("focal", "gamma", 3.0),
    ("rmi", "weight_lambda", 0.8),
    ("rmi", "radius", 2),
    ("rmi", "pool_size", 5),
    ("rmi", "pool_stride", 2),
    ("rmi", "pool", "avg"),
    ("rmi", "pos_alpha", 1e-2),
    ("cldice", "alpha", 0.2),
    ("cldice", "smooth", 5.0),
    ("cldice", "num_iter", 2),
]


@pytest.mark.parametrize(("name", "key", "value"), KEYWORDS, ids=[f"{n}-{k}" for n, k, _ in KEYWORDS])
def test_every_keyword_changes_the_output(name, key, value):
    gen = torch.Generator().manual_seed(11)
    logits = torch.randn(2, 2, 24, 24, generator=gen, dtype=torch.float64)
    target = torch.zeros(2, 24, 24, dtype=torch.long)
    target[:, 5:19, 8:12] = 1  # a thick bar: non-trivial soft skeletons for clDice
    target[:, 10:12, :] = 1
    maps = {"class_weight": weights(1.0, 3.0, batch=2)}
    default = build_loss(name)(logits, target, maps).item()
    changed = build_loss(name, **{key: value})(logits, target, maps).item()
    assert abs(changed - default) > 1e-6 * max(1.0, abs(default))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("tversky", {"alpha": -0.1}),
        ("focal", {"gamma": 0.5}),
        ("rmi", {"weight_lambda": 1.5}),
        ("rmi", {"radius": 0}),
        ("rmi", {"pool": "median"}),
        ("rmi", {"pos_alpha": 0.0}),
        ("cldice", {"alpha": 2.0}),
        ("cldice", {"smooth": 0.0}),
        ("cldice", {"num_iter": -1}),
    ],
)
def test_invalid_keywords_raise(name, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        build_loss(name, **kwargs)


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError):
        build_loss("dice", smooth=1.0)


def test_registry_holds_the_baselines():
    for name in BASELINES:
        assert name in LOSSES
    assert LOSSES["wce"].required_maps == ("wce",) and LOSSES["wce"].needs_class_weight
    assert LOSSES["abw"].required_maps == ("abw",) and not LOSSES["abw"].needs_class_weight
    assert LOSSES["focal"].needs_class_weight
    for name in ("dice", "jaccard", "tversky", "rmi", "cldice"):
        assert LOSSES[name].required_maps == () and not LOSSES[name].needs_class_weight


# --------------------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", BASELINES)
def test_cuda_matches_cpu(golden, name):
    logits, target, maps = golden_inputs(golden, torch.float32)
    cpu = build_loss(name)(logits, target, maps)
    dev = torch.device("cuda")
    gpu = build_loss(name)(logits.to(dev), target.to(dev), {k: v.to(dev) for k, v in maps.items()})
    assert gpu.device.type == "cuda"
    assert gpu.item() == pytest.approx(cpu.item(), rel=1e-5)
