"""The slow, literal SPW computation of docs/METHOD.md §1–2: the oracle for tests and benchmarks.

NOT for training. Every step is written as the spec states it, one operation at a
time, so that it can be read side by side with docs/METHOD.md §1–2 and checked by eye:

- the frequency grid with the one-bin offset, ``θ`` from ``arctan(ωy/ωx)`` with the
  quadrant corrections, rebuilt at every call and every level;
- ``fftshift(fft2(x))``, one inverse FFT per orientation, the complex bands summed
  before the magnitude, the ×2 down-sampling by cropping the central half;
- Fourier up-sampling one doubling at a time, with an absolute value after each.

The fast implementation lives in :mod:`losses.pyramid` and :mod:`losses.spw`; the
tests check it against this module, and ``scripts/bench_losses.py`` times both.
"""

from __future__ import annotations

import math

import torch

from .base import EPS


def literal_grid(h: int, w: int, dtype: torch.dtype, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(r, θ)`` of an ``h×w`` level, docs/METHOD.md §1 (one-bin offset, arctan quadrant rule).

    ``θ`` is NaN at the bin (h/2−1, w/2−1) where ωx = ωy = 0 (0/0 in the arctan), which
    is why the paper-time code zeroed that bin of every band mask.
    """
    wx = (torch.arange(h, dtype=dtype, device=device) - h / 2 + 1) * 2 * math.pi / h
    wy = (torch.arange(w, dtype=dtype, device=device) - w / 2 + 1) * 2 * math.pi / w
    wx, wy = torch.meshgrid(wx, wy, indexing="ij")
    r = torch.sqrt(wx**2 + wy**2)
    theta = torch.arctan(wy / wx)
    theta = torch.where(wx < 0, theta + math.pi, theta)
    theta = torch.where((wx >= 0) & (wy < 0), theta + 2 * math.pi, theta)
    return r, theta


def _c(t: torch.Tensor) -> torch.Tensor:
    return torch.cos(math.pi / 2 * torch.log2(t))


def literal_l0(r: torch.Tensor) -> torch.Tensor:
    """Level-0 low-pass ``L0`` of docs/METHOD.md §1."""
    out = torch.zeros_like(r)
    out = torch.where(r <= math.pi / 2, torch.ones_like(r), out)
    mid = (r > math.pi / 2) & (r < math.pi)
    return torch.where(mid, _c(2 * r / math.pi), out)


def literal_hi(r: torch.Tensor) -> torch.Tensor:
    """High-pass ``Hi`` of levels 1..N, docs/METHOD.md §1."""
    out = torch.zeros_like(r)
    out = torch.where(r >= math.pi / 2, torch.ones_like(r), out)
    mid = (r > math.pi / 4) & (r < math.pi / 2)
    return torch.where(mid, _c(2 * r / math.pi), out)


def literal_li(r: torch.Tensor) -> torch.Tensor:
    """Low-pass ``Li`` of levels 1..N, docs/METHOD.md §1."""
    out = torch.zeros_like(r)
    out = torch.where(r <= math.pi / 4, torch.ones_like(r), out)
    mid = (r > math.pi / 4) & (r < math.pi / 2)
    return torch.where(mid, _c(4 * r / math.pi), out)


def literal_gk(theta: torch.Tensor, k: int, orientations: int) -> torch.Tensor:
    """One-sided angular mask ``Gk(θ) = 2·αK·max(0, cos(θ − πk/K))^(K−1)``."""
    big_k = orientations
    alpha = 2 ** (big_k - 1) * math.factorial(big_k - 1) / math.sqrt(big_k * math.factorial(2 * (big_k - 1)))
    return 2 * alpha * torch.clamp(torch.cos(theta - math.pi * k / big_k), min=0) ** (big_k - 1)


def literal_bands(x: torch.Tensor, levels: int, orientations: int) -> list[list[torch.Tensor]]:
    """``band[i][k]`` (complex, level size) of an ``(..., h, w)`` real tensor, docs/METHOD.md §1."""
    h, w = x.shape[-2:]
    real = x.dtype
    r, _ = literal_grid(h, w, real, x.device)
    f = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1)) * literal_l0(r)
    bands = []
    for _ in range(levels):
        hh, ww = f.shape[-2:]
        r, theta = literal_grid(hh, ww, real, x.device)
        hi = literal_hi(r)
        level = []
        for k in range(orientations):
            mask = hi * literal_gk(theta, k, orientations)
            mask[hh // 2 - 1, ww // 2 - 1] = 0  # the paper-time code zeroed this bin (θ is 0/0 there)
            level.append(torch.fft.ifft2(torch.fft.ifftshift(f * mask, dim=(-2, -1))))
        bands.append(level)
        f = f * literal_li(r)
        f = f[..., hh // 4 : 3 * hh // 4, ww // 4 : 3 * ww // 4]
    return bands


def literal_upsample(m: torch.Tensor) -> torch.Tensor:
    """One ×2 Fourier zero-padding doubling of an ``(..., h, w)`` real map, then ``abs`` (docs/METHOD.md §2)."""
    h, w = m.shape[-2:]
    f = torch.fft.rfft2(m)
    pad = torch.zeros((*m.shape[:-2], 2 * h, w + 1), dtype=f.dtype, device=m.device)
    pad[..., : h // 2, : w // 2 + 1] = f[..., : h // 2, :]
    pad[..., -(h // 2) :, : w // 2 + 1] = f[..., -(h // 2) :, :]
    return torch.abs(torch.fft.irfft2(pad))


def literal_weight_map(
    z: torch.Tensor, levels: int = 4, orientations: int = 4, beta: float = 0.9
) -> torch.Tensor:
    """``M(z) = Σ_i β^(i−1)·U^(i−1)[|Σ_k band[i][k](z)|]`` of ``(B,1,H,W)`` z, docs/METHOD.md §2."""
    with torch.no_grad():
        bands = literal_bands(z.detach(), levels, orientations)
        total = torch.zeros_like(z)
        for i, level in enumerate(bands):
            s = level[0]
            for band in level[1:]:
                s = s + band
            s = torch.abs(s)
            for _ in range(i):
                s = literal_upsample(s)
            total = total + beta**i * s
        return total


def literal_spw_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weight: torch.Tensor,
    levels: int = 4,
    orientations: int = 4,
    beta: float = 0.9,
    lamb: float = 10.0,
    use_prediction: bool = True,
) -> torch.Tensor:
    """The SPW loss of docs/METHOD.md §2 written out literally (differentiable w.r.t. ``logits``)."""
    p = torch.softmax(logits, dim=1)[:, 1:2]
    y = target.unsqueeze(1).to(p.dtype)
    weight = literal_weight_map(y, levels, orientations, beta)
    if use_prediction:
        weight = weight + literal_weight_map(p, levels, orientations, beta)
    weight = lamb * weight
    c0 = class_weight[:, 0].to(p.dtype).view(-1, 1, 1, 1)
    c1 = class_weight[:, 1].to(p.dtype).view(-1, 1, 1, 1)
    return -((weight + c1) * y * torch.log(p + EPS) + (weight + c0) * (1 - y) * torch.log(1 - p + EPS)).mean()
