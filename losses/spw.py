"""Steerable Pyramid Weighted (SPW) loss, docs/METHOD.md §2 (Table 1 row "SPW").

SPW is class-balanced binary cross-entropy with one additive weight ``W`` shared by both
class terms::

    L = −mean[(W + c1)·y·log(p+ε) + (W + c0)·(1−y)·log(1−p+ε)]
    W = λ·(M(y) + M(p))      (use_prediction=True, the paper's description and Figure 1)
    W = λ·M(y)               (use_prediction=False, what the paper-time training script ran)

``M(z) = Σ_i β^(i−1)·U^(i−1)[|Σk band[i][k](z)|]`` is the multi-scale envelope of the
complex steerable pyramid (:mod:`losses.pyramid`), brought to full size by Fourier
up-sampling one doubling at a time. Maps are computed under ``torch.no_grad()`` on
detached inputs: no gradient flows through ``W``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from .base import SegLoss, class_one_probability, per_image_class_weights
from .cross_entropy import weighted_binary_ce
from .pyramid import band_envelopes, check_levels, check_orientations, check_pyramid_size


def fourier_upsample(m: torch.Tensor) -> torch.Tensor:
    """One ×2 Fourier zero-padding doubling of a real ``(..., h, w)`` map, then ``abs`` (docs/METHOD.md §2).

    The half-spectrum ``rfft2(m)`` (h × (w/2+1)) is placed in a zero 2h × (w+1)
    half-spectrum, its first h/2 rows on top and its last h/2 rows at the bottom, and
    ``irfft2`` gives the ``(..., 2h, 2w)`` map. Quirks of the paper-time code kept here:
    the default ``irfft2`` normalization (divides by the NEW size, so values shrink ×4),
    the Nyquist row/column copied as ordinary frequencies, and ``abs`` of the result.

    ``irfft2`` is done as its two 1-D passes: the inverse FFT along the rows runs on the
    transposed (contiguous) half-spectrum and skips the w/2 zero columns, then ``irfft``
    along the columns with ``n = 2w`` zero-pads to w+1 bins on the right, exactly where
    the spec puts the zeros. Same numbers; faster on CPU, where torch's strided (column)
    FFTs over a large batch are slow.
    """
    h, w = m.shape[-2:]
    half = torch.fft.rfft2(m).transpose(-1, -2)  # (..., w/2+1, h)
    zeros = half.new_zeros((*half.shape[:-1], h))
    padded = torch.cat([half[..., : h // 2], zeros, half[..., h // 2 :]], dim=-1)  # (..., w/2+1, 2h)
    rows_done = torch.fft.ifft(padded, dim=-1).transpose(-1, -2)  # (..., 2h, w/2+1)
    return torch.fft.irfft(rows_done, n=2 * w, dim=-1).abs_()


def check_spw_arguments(levels: int, orientations: int, beta: float) -> None:
    """Validate the pyramid hyper-parameters shared by :func:`spw_weight_map` and :class:`SPWLoss`."""
    check_levels(levels)
    check_orientations(orientations)
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")


def spw_weight_map(
    z: torch.Tensor, levels: int = 4, orientations: int = 4, beta: float = 0.9
) -> torch.Tensor:
    """``M(z)`` of docs/METHOD.md §2 for every channel of ``z``, without gradient.

    Args:
        z: real ``(B, C, H, W)`` (C = 1 for a label or a probability map; channels are
            independent, so the loss passes y and p stacked as C = 2 in one pass),
            H and W divisible by ``2**levels``.

    Returns:
        ``(B, C, H, W)`` non-negative map in the dtype of ``z`` (FFT work in the matching
        complex dtype, as in the paper-time code).
    """
    check_spw_arguments(levels, orientations, beta)
    if not isinstance(z, torch.Tensor) or not z.is_floating_point() or z.ndim != 4:
        got = (
            f"shape {tuple(z.shape)} and dtype {z.dtype}" if isinstance(z, torch.Tensor) else type(z).__name__
        )
        raise TypeError(f"spw_weight_map needs a real float tensor z of shape (B,C,H,W), got {got}")
    check_pyramid_size(z.shape[-2], z.shape[-1], levels, what=f"z of shape {tuple(z.shape)}")
    with torch.no_grad():
        envelopes = band_envelopes(z.detach(), levels, orientations)
        total = envelopes[0]
        for i, envelope in enumerate(envelopes[1:], start=1):
            # abs after each doubling (docs/METHOD.md §2), so levels cannot share an up-sampling.
            for _ in range(i):
                envelope = fourier_upsample(envelope)
            total = total + beta**i * envelope
        return total


class SPWLoss(SegLoss):
    """SPW loss (docs/METHOD.md §2); contract of :mod:`losses.base`, reads ``maps["class_weight"]``.

    Args:
        levels: pyramid levels N (H and W must be divisible by ``2**levels``).
        orientations: orientations K per level.
        beta: per-level decay β of ``M``.
        lamb: λ scaling the weight map.
        use_prediction: ``True`` → ``W = λ(M(y) + M(p))`` (paper); ``False`` → ``W = λ·M(y)``.
    """

    needs_class_weight = True

    def __init__(
        self,
        levels: int = 4,
        orientations: int = 4,
        beta: float = 0.9,
        lamb: float = 10.0,
        use_prediction: bool = True,
    ) -> None:
        super().__init__()
        check_spw_arguments(levels, orientations, beta)
        if (
            isinstance(lamb, bool)
            or not isinstance(lamb, (int, float))
            or not math.isfinite(lamb)
            or lamb < 0
        ):
            raise ValueError(f"lamb must be a finite number >= 0, got {lamb!r}")
        if not isinstance(use_prediction, bool):
            raise TypeError(f"use_prediction must be a bool, got {use_prediction!r}")
        self.levels, self.orientations, self.beta = levels, orientations, float(beta)
        self.lamb, self.use_prediction = float(lamb), use_prediction

    def extra_repr(self) -> str:
        return (
            f"levels={self.levels}, orientations={self.orientations}, beta={self.beta}, "
            f"lamb={self.lamb}, use_prediction={self.use_prediction}"
        )

    def weight(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``W`` of shape ``(B, H, W)`` from probabilities and float labels ``(B, H, W)`` (no gradient)."""
        with torch.no_grad():
            z = torch.stack([y, p.detach()], dim=1) if self.use_prediction else y.unsqueeze(1)
            maps = spw_weight_map(z, self.levels, self.orientations, self.beta)
            if self.use_prediction:
                return self.lamb * (maps[:, 0] + maps[:, 1])
            return self.lamb * maps[:, 0]

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        check_pyramid_size(
            logits.shape[-2], logits.shape[-1], self.levels, what=f"logits of shape {tuple(logits.shape)}"
        )
        if logits.dtype not in (torch.float32, torch.float64):
            # Half-precision logits (autocast): the FFT work runs in float32, as the paper-time
            # training did (no mixed precision, docs/METHOD.md §6); torch.fft has no bfloat16.
            logits = logits.float()
        p = class_one_probability(logits)
        y = target.to(p.dtype)
        weight = self.weight(p, y)
        c0, c1 = per_image_class_weights(maps["class_weight"], p.dtype)
        return weighted_binary_ce(p, y, weight + c1, weight + c0)
