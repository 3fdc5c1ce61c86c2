"""SPW loss and the complex steerable pyramid (docs/METHOD.md §1–2, issue 3).

The oracle is the literal, slow computation of ``losses/_spw_reference.py`` (one inverse
FFT per orientation, the spec's shifted grid with the one-bin offset and the zeroed bin,
``ifft2`` default normalization, up-sampling one doubling at a time with ``abs`` after
each); golden values come from the paper-time code (``../shared/reference/golden.npz``).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from data.processing import class_weights
from data.synthetic import voronoi_membrane_mask
from losses import LOSSES, build_loss
from losses._spw_reference import (
    literal_bands,
    literal_spw_loss,
    literal_upsample,
    literal_weight_map,
)
from losses.cross_entropy import weighted_binary_ce
from losses.pyramid import band_envelopes, crop_spectrum, full_corners, pyramid_filters, steerable_pyramid
from losses.spw import SPWLoss, fourier_upsample, spw_weight_map

#: float32 must match the literal formulas to this relative error (issue 3); float64 far tighter.
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}
SIZES = [(64, 64), (96, 160), (128, 128)]


def membrane_target(batch: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Voronoi membranes (class 1 = membrane), int64 ``(B,H,W)``, one seed per image."""
    masks = [voronoi_membrane_mask((h, w), n_cells=12, seed=seed + b) for b in range(batch)]
    return torch.from_numpy(np.stack(masks).astype(np.int64))


def random_case(batch: int, h: int, w: int, dtype: torch.dtype, seed: int = 0):
    """Random logits, Voronoi membrane targets and their per-image class weights (docs/METHOD.md §4.4)."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, 2, h, w, generator=gen, dtype=torch.float64).to(dtype)
    target = membrane_target(batch, h, w, seed)
    class_weight = torch.tensor([class_weights(t.numpy()) for t in target], dtype=dtype)
    return logits, target, class_weight


def max_rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Max absolute error relative to the largest magnitude of the reference ``b``."""
    return float((a - b).abs().max() / b.abs().max())


# --------------------------------------------------------------------------- parity with the oracle


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", SIZES)
def test_weight_map_matches_literal_oracle(size, dtype):
    h, w = size
    logits, target, _ = random_case(2, h, w, dtype)
    z = torch.cat([target.unsqueeze(1).to(dtype), torch.softmax(logits, 1)[:, 1:]], dim=1)
    fast = spw_weight_map(z)
    assert fast.shape == z.shape and fast.dtype == dtype
    assert max_rel_err(fast, literal_weight_map(z)) < TOL[dtype]


@pytest.mark.parametrize(
    ("levels", "orientations", "beta"), [(2, 3, 0.5), (3, 1, 0.9), (1, 6, 0.9), (4, 2, 1.3)]
)
def test_weight_map_matches_oracle_for_other_hyperparameters(levels, orientations, beta):
    z = torch.rand(2, 1, 32, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fast = spw_weight_map(z, levels, orientations, beta)
    assert max_rel_err(fast, literal_weight_map(z, levels, orientations, beta)) < 1e-12


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", [(32, 48), (64, 64)])
def test_every_oriented_band_matches_oracle(size, dtype):
    x = torch.rand(2, 1, *size, dtype=dtype, generator=torch.Generator().manual_seed(2))
    fast = steerable_pyramid(x, levels=3, orientations=4)
    slow = literal_bands(x, levels=3, orientations=4)
    for level, (f, s) in enumerate(zip(fast, slow)):
        h, w = size[0] >> level, size[1] >> level
        assert f.shape == (2, 1, 4, h, w)
        assert max_rel_err(f, torch.stack(s, dim=-3)) < TOL[dtype]


def test_envelopes_are_magnitude_of_summed_bands():
    """One inverse FFT of the summed masks equals the sum of the K per-orientation bands."""
    x = torch.rand(1, 2, 64, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for env, bands in zip(band_envelopes(x, 3, 4), steerable_pyramid(x, 3, 4)):
        assert max_rel_err(env, bands.sum(-3).abs()) < 1e-12


def test_corners_from_the_half_spectrum_equal_the_centred_crop():
    x = torch.rand(2, 32, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(14))
    full = torch.fft.fft2(x)
    centred = torch.fft.fftshift(full, dim=(-2, -1))[..., 8:24, 12:36]  # central half, docs/METHOD.md §1 crop
    expected = torch.fft.ifftshift(centred, dim=(-2, -1))
    torch.testing.assert_close(crop_spectrum(full, (16, 24)), expected, rtol=0, atol=0)
    torch.testing.assert_close(full_corners(torch.fft.rfft2(x), (16, 24)), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_upsample_matches_oracle_and_shrinks_constants_by_four(dtype):
    m = torch.rand(3, 1, 16, 24, dtype=dtype, generator=torch.Generator().manual_seed(4))
    up = fourier_upsample(m)
    assert up.shape == (3, 1, 32, 48)
    assert max_rel_err(up, literal_upsample(m)) < TOL[dtype]
    # Quirk kept from the paper-time code: irfft2 divides by the doubled size, so a constant
    # map c comes back as c/4.
    const = torch.full((1, 8, 8), 2.0, dtype=dtype)
    torch.testing.assert_close(fourier_upsample(const), torch.full((1, 16, 16), 0.5, dtype=dtype))


@pytest.mark.parametrize("use_prediction", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("batch", "size"), [(1, (64, 64)), (2, (96, 160)), (2, (128, 128))])
def test_loss_and_gradient_match_literal_oracle(batch, size, dtype, use_prediction):
    logits, target, cw = random_case(batch, *size, dtype, seed=batch)
    fast_in = logits.clone().requires_grad_()
    slow_in = logits.clone().requires_grad_()
    fast = SPWLoss(use_prediction=use_prediction)(fast_in, target, {"class_weight": cw})
    slow = literal_spw_loss(slow_in, target, cw, use_prediction=use_prediction)
    fast.backward()
    slow.backward()
    assert abs(fast.item() - slow.item()) / abs(slow.item()) < TOL[dtype]
    assert max_rel_err(fast_in.grad, slow_in.grad) < TOL[dtype]


# --------------------------------------------------------------------------- golden values


@pytest.mark.parametrize("suffix", ["f32", "f64"])
def test_golden_maps_losses_and_gradients(golden, suffix):
    dtype = torch.float32 if suffix == "f32" else torch.float64
    logits = torch.from_numpy(golden["case__logits"]).to(dtype)
    target = torch.from_numpy(golden["case__target"])
    cw = torch.from_numpy(golden["case__class_weight" + ("_f64" if suffix == "f64" else "")])
    maps = spw_weight_map(torch.stack([target.to(dtype), torch.softmax(logits, 1)[:, 1]], dim=1))
    assert max_rel_err(maps[:, :1], torch.from_numpy(golden[f"spw__map_y_{suffix}"])) < TOL[dtype]
    assert max_rel_err(maps[:, 1:], torch.from_numpy(golden[f"spw__map_p_{suffix}"])) < TOL[dtype]
    for variant, use_prediction in [("labelpred", True), ("label", False)]:
        x = logits.clone().requires_grad_()
        loss = build_loss("spw", use_prediction=use_prediction)(x, target, {"class_weight": cw})
        loss.backward()
        expected = float(golden[f"spw__loss_{variant}_{suffix}"])
        assert abs(loss.item() - expected) / expected < TOL[dtype]
        grad = torch.from_numpy(golden[f"spw__grad_logits_{variant}_{suffix}"])
        assert max_rel_err(x.grad, grad) < TOL[dtype]


# --------------------------------------------------------------------------- gradients


def test_gradcheck_through_loss_float64():
    logits, target, cw = random_case(1, 16, 16, torch.float64, seed=5)
    loss = SPWLoss(levels=2, use_prediction=False)
    x = logits.clone().requires_grad_()
    # fast_mode checks a random projection vᵀJu of the Jacobian: far fewer loss evaluations.
    assert torch.autograd.gradcheck(lambda t: loss(t, target, {"class_weight": cw}), (x,), fast_mode=True)


def test_gradcheck_through_pyramid_float64():
    """The FFT path itself is differentiable (the loss just never asks it to be)."""
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda t: steerable_pyramid(t, 2, 3)[1], (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda t: band_envelopes(t, 2, 3)[0], (x,), fast_mode=True)


def test_no_gradient_flows_through_the_weight_map():
    logits, target, cw = random_case(2, 32, 32, torch.float64, seed=7)
    x = logits.clone().requires_grad_()
    loss = SPWLoss(levels=3, use_prediction=True)
    loss(x, target, {"class_weight": cw}).backward()
    # Same loss with W frozen as a constant: identical gradient.
    frozen = logits.clone().requires_grad_()
    p = torch.softmax(frozen, 1)[:, 1]
    y = target.to(p.dtype)
    weight = loss.weight(p.detach(), y)
    assert not weight.requires_grad
    c0, c1 = cw[:, 0].view(-1, 1, 1), cw[:, 1].view(-1, 1, 1)
    weighted_binary_ce(p, y, weight + c1, weight + c0).backward()
    torch.testing.assert_close(x.grad, frozen.grad, rtol=0, atol=0)


# --------------------------------------------------------------------------- limits and properties


@pytest.mark.parametrize("use_prediction", [True, False])
def test_lambda_zero_is_class_balanced_ce_exactly(use_prediction):
    logits, target, cw = random_case(2, 32, 32, torch.float32, seed=8)
    a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    spw = SPWLoss(lamb=0.0, use_prediction=use_prediction)(a, target, {"class_weight": cw})
    bce = build_loss("bce")(b, target, {"class_weight": cw})
    spw.backward()
    bce.backward()
    assert torch.equal(spw, bce)
    assert torch.equal(a.grad, b.grad)


def test_weight_map_non_negative_and_zero_for_zero_input():
    logits, target, _ = random_case(2, 64, 64, torch.float32, seed=9)
    z = torch.stack([target.float(), torch.softmax(logits, 1)[:, 1]], dim=1)
    assert (spw_weight_map(z) >= 0).all()
    assert torch.equal(spw_weight_map(torch.zeros(1, 1, 32, 32)), torch.zeros(1, 1, 32, 32))


@pytest.mark.parametrize("shift", [(16, 0), (0, 32), (-48, 16)])
def test_equivariant_under_circular_shifts(shift):
    z = membrane_target(1, 64, 96, seed=10).unsqueeze(1).double()
    shifted = spw_weight_map(torch.roll(z, shift, dims=(-2, -1)))
    assert max_rel_err(shifted, torch.roll(spw_weight_map(z), shift, dims=(-2, -1))) < 1e-12


def test_larger_at_class_boundaries_than_in_flat_regions():
    y = torch.zeros(1, 1, 64, 64, dtype=torch.float64)
    y[..., 16:48, 16:48] = 1
    m = spw_weight_map(y)[0, 0].numpy()
    g = y[0, 0].numpy().astype(bool)
    edge = ndi.binary_dilation(g) ^ ndi.binary_erosion(g)
    dist = np.where(g, ndi.distance_transform_edt(g), ndi.distance_transform_edt(~g))
    assert m[edge].mean() > 2 * m[dist > 8].mean()


@pytest.mark.parametrize("k", range(4))
def test_oriented_grating_responds_in_nearest_orientation(k):
    """A grating at angle πk/K (the spec's θ of (ωx rows, ωy columns)) peaks in band k."""
    h = 64
    # ~0.75π rad/pixel at angle πk/4; the real grating's mirror component (θ+π) falls outside
    # the one-sided masks.
    a, b = [(24, 0), (17, 17), (0, 24), (17, -17)][k]
    i, j = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(h, dtype=torch.float64), indexing="ij"
    )
    grating = torch.cos(2 * math.pi * (a * i + b * j) / h)
    energy = steerable_pyramid(grating, levels=4, orientations=4)[0].abs().pow(2).sum((-2, -1))
    assert int(energy.argmax()) == k
    assert energy[k] > 3 * energy[(k + 2) % 4]


@pytest.mark.parametrize(
    "kwargs",
    [{"levels": 3}, {"orientations": 2}, {"beta": 0.5}, {"lamb": 3.0}, {"use_prediction": False}],
)
def test_every_constructor_argument_changes_the_output(kwargs):
    logits, target, cw = random_case(2, 64, 64, torch.float64, seed=11)
    base = SPWLoss()(logits, target, {"class_weight": cw})
    changed = SPWLoss(**kwargs)(logits, target, {"class_weight": cw})
    assert abs(float(changed) - float(base)) > 1e-6 * abs(float(base))


def test_registered_and_declares_its_inputs():
    assert LOSSES["spw"] is SPWLoss
    assert SPWLoss.needs_class_weight and SPWLoss.required_maps == ()
    loss = build_loss("spw", lamb=2.0, use_prediction=False)
    assert (loss.lamb, loss.use_prediction) == (2.0, False)


def test_filters_cached_per_size_and_dtype():
    a = pyramid_filters(32, 48, 3, 4, torch.device("cpu"), torch.float32)
    assert pyramid_filters(32, 48, 3, 4, torch.device("cpu"), torch.float32) is a
    b = pyramid_filters(32, 48, 3, 4, torch.device("cpu"), torch.float64)
    assert b is not a and b.summed[0].dtype == torch.float64 and a.summed[0].dtype == torch.float32
    assert [m.shape for m in a.bands] == [(4, 32, 48), (4, 16, 24), (4, 8, 12)]


# --------------------------------------------------------------------------- errors


def test_size_not_divisible_by_two_to_the_levels_is_a_clear_error():
    logits, target, cw = random_case(1, 40, 64, torch.float32)
    with pytest.raises(ValueError, match=r"divisible by 2\*\*levels = 16.*40x64"):
        SPWLoss()(logits, target, {"class_weight": cw})
    with pytest.raises(ValueError, match="divisible"):
        spw_weight_map(torch.zeros(1, 1, 24, 32), levels=4)
    with pytest.raises(ValueError, match="divisible"):
        steerable_pyramid(torch.zeros(8, 12), levels=3)


def test_missing_class_weight_and_bad_inputs_are_clear_errors():
    logits, target, cw = random_case(2, 32, 32, torch.float32)
    loss = SPWLoss(levels=2)
    with pytest.raises(KeyError, match="class_weight"):
        loss(logits, target)
    with pytest.raises(ValueError, match=r"\(B,2\)"):
        loss(logits, target, {"class_weight": cw[:1]})
    with pytest.raises(TypeError, match="int64"):
        loss(logits, target.float(), {"class_weight": cw})
    with pytest.raises(ValueError, match=r"\(B,2,H,W\)"):
        loss(logits[:, :1], target, {"class_weight": cw})
    with pytest.raises(TypeError, match=r"\(B,C,H,W\)"):
        spw_weight_map(torch.zeros(32, 32))
    with pytest.raises(TypeError, match="float"):
        spw_weight_map(torch.zeros(1, 1, 32, 32, dtype=torch.int64))


def test_half_precision_logits_run_in_float32():
    logits, target, cw = random_case(1, 32, 32, torch.float32, seed=13)
    half = logits.bfloat16()
    loss = SPWLoss(levels=2)
    assert torch.equal(
        loss(half, target, {"class_weight": cw}), loss(half.float(), target, {"class_weight": cw})
    )
    with pytest.raises(TypeError, match="float32 or float64"):
        spw_weight_map(half[:, :1])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"levels": 0}, ValueError, "levels"),
        ({"levels": 2.0}, ValueError, "levels"),
        ({"orientations": 0}, ValueError, "orientations"),
        ({"beta": float("nan")}, ValueError, "beta"),
        ({"lamb": -1.0}, ValueError, "lamb"),
        ({"use_prediction": "yes"}, TypeError, "use_prediction"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SPWLoss(**kwargs)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    logits, target, cw = random_case(2, 64, 96, torch.float32, seed=12)
    cpu_in, gpu_in = logits.clone().requires_grad_(), logits.cuda().requires_grad_()
    cpu = SPWLoss()(cpu_in, target, {"class_weight": cw})
    gpu = SPWLoss()(gpu_in, target.cuda(), {"class_weight": cw.cuda()})
    cpu.backward()
    gpu.backward()
    assert abs(gpu.item() - cpu.item()) / cpu.item() < 1e-5
    assert max_rel_err(gpu_in.grad.cpu(), cpu_in.grad) < 1e-5
    filters = pyramid_filters(64, 96, 4, 4, gpu_in.device, torch.float32)
    assert filters.summed[0].device.type == "cuda"


# --------------------------------------------------------------------------- the cost table


def _bench_losses_script():
    """scripts/bench_losses.py loaded as a module (scripts are not imported by the suite's code)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_losses.py"
    spec = importlib.util.spec_from_file_location("bench_losses", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_bench_losses_writes_the_cost_table(tmp_path, capsys):
    bench = _bench_losses_script()
    out = tmp_path / "costs.csv"
    argv = [
        "--device",
        "cpu",
        "--sizes",
        "1x32x32",
        "--losses",
        "spw,spw_literal",
        "--repeats",
        "1",
        "--warmup",
        "0",
    ]
    assert bench.main([*argv, "--csv", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0].split(",")[:7] == [
        "loss",
        "device",
        "batch",
        "height",
        "width",
        "median_ms",
        "ratio_to_ce",
    ]
    assert [r.split(",")[0] for r in rows[1:]] == ["ce", "spw", "spw_literal"]
    assert rows[1].split(",")[1:7:5] == ["cpu", "1.0"]  # CE is the ratio's base
    assert "literal oracle / SPW" in capsys.readouterr().out
    assert bench.parse_sizes("10x512x512, 2x128x96") == [(10, 512, 512), (2, 128, 96)]
    with pytest.raises(SystemExit):
        bench.main(["--losses", "no_such_loss"])


def test_bench_losses_times_recipe_rows_under_their_run_names(tmp_path, capsys):
    """Table 3 needs every grid row: sums and keyword rows are timed under the runs' folder names."""
    bench = _bench_losses_script()
    out = tmp_path / "costs.csv"
    losses = "ce+dice+skeleton_recall,focal[gamma=2.5],wce"
    argv = ["--device", "cpu", "--sizes", "1x32x32", "--losses", losses, "--repeats", "1", "--warmup", "0"]
    assert bench.main([*argv, "--csv", str(out)]) == 0
    names = [r.split(",")[0] for r in out.read_text().splitlines()[1:]]
    assert names == ["ce", "ce+dice+skeleton_recall", "focal+gamma=2.5", "wce"]
    assert bench.required_maps("wce+dice") == ("wce",)
    with pytest.raises(SystemExit):
        bench.main(["--losses", "ce+no_such_loss"])
    assert "nor a loss specification" in capsys.readouterr().err
