"""The complex steerable pyramid of docs/METHOD.md §1, batched over ``(..., H, W)`` and cached.

The paper-time code works on the shifted spectrum ``fftshift(fft2(x))``, multiplies it by
``L0``, and at each level i = 1..N takes one inverse FFT per orientation of
``F·Hi·Gk`` before multiplying ``F`` by ``Li`` and cropping its central half. This
module computes exactly the same numbers with less work:

- every mask is built once per (size, levels, orientations, device, dtype) and cached
  (:func:`pyramid_filters`), in float64 and then cast, already ``ifftshift``-ed, so no
  shift is done per call;
- the low-pass chain ``L0·L1·…·L(i−1)`` (cropped) is folded into the band masks of
  level i, and the crop of the centred spectrum to the central ``h/2^(i−1) × w/2^(i−1)``
  is, in the unshifted layout, the four corner blocks of ``fft2(x)`` (an exact copy);
- for the SPW envelope ``|Σk band[i][k]|`` the K oriented masks are summed before the
  inverse FFT (the FFT is linear), so each level needs ONE inverse FFT
  (:func:`band_envelopes`); :func:`steerable_pyramid` still returns every band;
- level 1 (full size) works from the half-spectrum ``rfft2(x)`` only, with the summed
  mask split into even and odd parts (two real inverse FFTs instead of a complex forward
  and a complex inverse one).

Quirks of the paper-time code reproduced here (docs/METHOD.md §1):

- the frequency grid is one bin off: ``ωx(j) = (j − h/2 + 1)·2π/h`` although the spectrum's
  DC sits at index h/2, so every filter is shifted by one bin;
- the bin (h/2−1, w/2−1) of every band mask (where ωx = ωy = 0 and the code's θ is 0/0)
  is set to 0;
- ``ifft2`` with the default (backward) normalization.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch


def check_levels(levels: int) -> None:
    """Raise ``ValueError`` unless ``levels`` is an integer >= 1."""
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")


def check_pyramid_size(height: int, width: int, levels: int, what: str = "input") -> None:
    """Raise ``ValueError`` unless both spatial sizes are divisible by ``2**levels``.

    Each level halves the grid and the level's own grid must stay even, so docs/METHOD.md §1
    needs h and w divisible by 2^N.
    """
    check_levels(levels)
    step = 2**levels
    if height % step or width % step or height < step or width < step:
        raise ValueError(
            f"the steerable pyramid with levels={levels} needs height and width divisible by "
            f"2**levels = {step}; {what} has spatial size {height}x{width} "
            f"(pad or crop it to a multiple of {step})"
        )


def check_orientations(orientations: int) -> None:
    """Raise ``ValueError`` unless ``orientations`` is an integer >= 1."""
    if isinstance(orientations, bool) or not isinstance(orientations, int) or orientations < 1:
        raise ValueError(f"orientations must be an integer >= 1, got {orientations!r}")


def _radius_and_cosines(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(r, cos φ, sin φ)`` on the one-bin-offset grid of an ``h×w`` level (float64, centred layout).

    φ is the direction of (ωx, ωy); the angular masks only need ``cos(θ − πk/K)``, and
    ``cos(θ − a) = cos φ·cos a + sin φ·sin a`` because the paper's θ (arctan plus the
    quadrant corrections) equals φ modulo 2π. At r = 0 both are set to 0; that bin is
    zeroed in every band mask anyway.
    """
    # One-bin offset of the paper-time grid (docs/METHOD.md §1): index h/2 − 1, not h/2, is ω = 0.
    wx = (torch.arange(h, dtype=torch.float64) - (h / 2 - 1)) * (2 * math.pi / h)
    wy = (torch.arange(w, dtype=torch.float64) - (w / 2 - 1)) * (2 * math.pi / w)
    wx, wy = torch.meshgrid(wx, wy, indexing="ij")
    r = torch.sqrt(wx**2 + wy**2)
    safe = torch.where(r > 0, r, torch.ones_like(r))
    return r, torch.where(r > 0, wx / safe, 0.0), torch.where(r > 0, wy / safe, 0.0)


def _raised_cosine(t: torch.Tensor) -> torch.Tensor:
    """``c(t) = cos(π/2 · log2 t)`` of docs/METHOD.md §1 (only evaluated where t > 0)."""
    return torch.cos(math.pi / 2 * torch.log2(t.clamp_min(1e-300)))


def _low0(r: torch.Tensor) -> torch.Tensor:
    """``L0``: 1 for r ≤ π/2, c(2r/π) between, 0 for r ≥ π."""
    out = torch.where(r <= math.pi / 2, 1.0, 0.0).to(r.dtype)
    return torch.where((r > math.pi / 2) & (r < math.pi), _raised_cosine(2 * r / math.pi), out)


def _high(r: torch.Tensor) -> torch.Tensor:
    """``Hi``: 1 for r ≥ π/2, c(2r/π) between, 0 for r ≤ π/4."""
    out = torch.where(r >= math.pi / 2, 1.0, 0.0).to(r.dtype)
    return torch.where((r > math.pi / 4) & (r < math.pi / 2), _raised_cosine(2 * r / math.pi), out)


def _low(r: torch.Tensor) -> torch.Tensor:
    """``Li``: 1 for r ≤ π/4, c(4r/π) between, 0 for r ≥ π/2."""
    out = torch.where(r <= math.pi / 4, 1.0, 0.0).to(r.dtype)
    return torch.where((r > math.pi / 4) & (r < math.pi / 2), _raised_cosine(4 * r / math.pi), out)


def angular_alpha(orientations: int) -> float:
    """``αK = 2^(K−1)·(K−1)! / sqrt(K·(2(K−1))!)`` (0.8944 for K = 4), docs/METHOD.md §1."""
    k = orientations
    return 2 ** (k - 1) * math.factorial(k - 1) / math.sqrt(k * math.factorial(2 * (k - 1)))


def _angular(cos_phi: torch.Tensor, sin_phi: torch.Tensor, orientations: int) -> torch.Tensor:
    """``Gk = 2·αK·max(0, cos(θ − πk/K))^(K−1)`` for k = 0..K−1, shape ``(K, h, w)``."""
    angles = torch.arange(orientations, dtype=torch.float64) * (math.pi / orientations)
    cos_diff = cos_phi * torch.cos(angles)[:, None, None] + sin_phi * torch.sin(angles)[:, None, None]
    return 2 * angular_alpha(orientations) * cos_diff.clamp_min(0) ** (orientations - 1)


def _crop_centre(a: torch.Tensor) -> torch.Tensor:
    """Central half of a centred spectrum: rows h/4..3h/4, columns w/4..3w/4 (the ×2 down-sampling)."""
    h, w = a.shape[-2:]
    return a[..., h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]


@dataclass(frozen=True)
class PyramidFilters:
    """Cached masks of one pyramid, in the unshifted FFT layout, level by level.

    Attributes:
        sizes: ``(h_i, w_i)`` of levels 1..N (``h/2^(i−1) × w/2^(i−1)``).
        bands: per level, ``(K, h_i, w_i)`` real masks ``L0·…·L(i−1)·Hi·Gk`` (bin zeroed).
        summed: per level, ``(h_i, w_i)`` real mask ``L0·…·L(i−1)·Hi·ΣkGk``: one inverse FFT
            of the spectrum times this mask is ``Σk band[i][k]``.
        first_split: complex ``(2, h, w/2+1)``: the columns 0..w/2 of ``summed[0]``'s
            even part ``(M(f) + M(−f))/2`` and of ``−i·`` its odd part ``(M(f) − M(−f))/2``.
            For a real input both products with the half-spectrum ``rfft2(x)`` are
            Hermitian, so their inverse real FFTs are the real and imaginary parts of
            level 1's band sum (:func:`band_envelopes`).
    """

    sizes: tuple[tuple[int, int], ...]
    bands: tuple[torch.Tensor, ...]
    summed: tuple[torch.Tensor, ...]
    first_split: torch.Tensor


def _even_odd_half(mask: torch.Tensor) -> torch.Tensor:
    """``[even, −i·odd]`` parts of an unshifted real ``(h, w)`` mask, columns 0..w/2, complex128."""
    w = mask.shape[-1]
    # M(−f) in the unshifted layout: index (−u mod h, −v mod w).
    mirrored = torch.roll(torch.flip(mask, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1))
    even = (mask + mirrored) / 2
    odd = (mask - mirrored) / 2
    return torch.stack([even.to(torch.complex128), -1j * odd.to(torch.complex128)])[..., : w // 2 + 1]


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """complex64 for float32, complex128 for float64 (the dtype the FFTs of the input produce)."""
    return torch.complex64 if dtype == torch.float32 else torch.complex128


@functools.lru_cache(maxsize=64)
def pyramid_filters(
    height: int, width: int, levels: int, orientations: int, device: torch.device, dtype: torch.dtype
) -> PyramidFilters:
    """Build (once, then cached) the masks of docs/METHOD.md §1 for an ``height×width`` input.

    Masks are computed in float64 and cast to ``dtype`` (the real dtype of the input) on
    ``device``. The returned tensors are shared by every caller: never modify them.
    """
    check_pyramid_size(height, width, levels)
    check_orientations(orientations)
    r, _, _ = _radius_and_cosines(height, width)
    lowpass = _low0(r)  # product of the low-pass masks applied so far, centred layout
    sizes, bands, summed = [], [], []
    h, w = height, width
    for _ in range(levels):
        r, cos_phi, sin_phi = _radius_and_cosines(h, w)
        masks = lowpass * _high(r) * _angular(cos_phi, sin_phi, orientations)
        # The paper-time code zeroed this bin of every band mask (its θ is 0/0 there).
        masks[:, h // 2 - 1, w // 2 - 1] = 0
        sizes.append((h, w))
        bands.append(torch.fft.ifftshift(masks, dim=(-2, -1)))
        summed.append(torch.fft.ifftshift(masks.sum(0), dim=(-2, -1)))
        lowpass = _crop_centre(lowpass * _low(r))
        h, w = h // 2, w // 2
    return PyramidFilters(
        sizes=tuple(sizes),
        bands=tuple(m.to(device=device, dtype=dtype) for m in bands),
        summed=tuple(m.to(device=device, dtype=dtype) for m in summed),
        first_split=_even_odd_half(summed[0]).to(device=device, dtype=_complex_dtype(dtype)),
    )


def _filters_for(x: torch.Tensor, levels: int, orientations: int) -> PyramidFilters:
    """Validate ``x`` (real float32/float64 ``(..., H, W)``) and fetch its cached filters."""
    if not isinstance(x, torch.Tensor) or x.dtype not in (torch.float32, torch.float64) or x.ndim < 2:
        raise TypeError(
            "the steerable pyramid needs a real float32 or float64 tensor (..., H, W), got "
            + (
                f"shape {tuple(x.shape)} and dtype {x.dtype}"
                if isinstance(x, torch.Tensor)
                else type(x).__name__
            )
        )
    h, w = x.shape[-2:]
    check_pyramid_size(h, w, levels, what=f"the input of shape {tuple(x.shape)}")
    return pyramid_filters(h, w, levels, orientations, x.device, x.dtype)


def full_corners(half: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Lowest ``size`` frequencies of ``fft2(x)`` from the half-spectrum ``rfft2(x)`` of a real x.

    Args:
        half: ``(..., H, W/2+1)`` = ``rfft2(x)``; ``size``: even ``(h, w)``, h ≤ H, w ≤ W.

    Returns:
        ``(..., h, w)`` complex, equal bin for bin to :func:`crop_spectrum` of ``fft2(x)``: the
        negative column frequencies come from Hermitian symmetry ``X(−f) = conj(X(f))``.
    """
    h, w = size
    big_h = half.shape[-2]
    rows = torch.cat([torch.arange(h // 2), torch.arange(big_h - h // 2, big_h)]).to(half.device)
    positive = half[..., rows, : w // 2]
    # Column W − j (j = w/2 … 1) holds conj of column j at row −u (mod H).
    negative = half[..., (-rows) % big_h, 1 : w // 2 + 1].flip(-1).conj()
    return torch.cat([positive, negative], dim=-1)


def crop_spectrum(spectrum: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The lowest ``size`` frequencies of an unshifted ``(..., H, W)`` spectrum (its four corner blocks).

    Equal, bin for bin, to ``ifftshift`` of the central ``size`` crop of ``fftshift(spectrum)``.
    """
    h, w = size
    big_h, big_w = spectrum.shape[-2:]
    if (h, w) == (big_h, big_w):
        return spectrum
    rows = torch.cat([spectrum[..., : h // 2, :], spectrum[..., big_h - h // 2 :, :]], dim=-2)
    return torch.cat([rows[..., : w // 2], rows[..., big_w - w // 2 :]], dim=-1)


def steerable_pyramid(x: torch.Tensor, levels: int = 4, orientations: int = 4) -> list[torch.Tensor]:
    """Every complex band of the pyramid of docs/METHOD.md §1 (differentiable).

    Args:
        x: real ``(..., H, W)``, H and W divisible by ``2**levels``.

    Returns:
        ``levels`` complex tensors; level i (0-based) has shape ``(..., K, H/2^i, W/2^i)``
        and holds ``band[i+1][k]`` for k = 0..K−1 (one inverse FFT per orientation).
    """
    filters = _filters_for(x, levels, orientations)
    spectrum = torch.fft.fft2(x)
    out = []
    for size, masks in zip(filters.sizes, filters.bands):
        out.append(torch.fft.ifft2(crop_spectrum(spectrum, size).unsqueeze(-3) * masks))
    return out


def band_envelopes(x: torch.Tensor, levels: int = 4, orientations: int = 4) -> list[torch.Tensor]:
    """``Si = |Σk band[i][k]|`` per level, docs/METHOD.md §2, with ONE inverse FFT per level.

    Level 1 (full size, most of the cost) never forms the full complex spectrum: with
    ``X = rfft2(x)`` Hermitian and the summed mask split into even and odd parts,
    ``ifft2(X·M) = irfft2(X·M_even) + i·irfft2(X·(−i·M_odd))``: two real inverse FFTs
    in one batched call. Coarser levels crop the full spectrum's corners (rebuilt from X)
    and take one complex inverse FFT each.

    Args:
        x: real ``(..., H, W)``, H and W divisible by ``2**levels``.

    Returns:
        ``levels`` real tensors of shape ``(..., H/2^i, W/2^i)``, i = 0..levels−1.
    """
    filters = _filters_for(x, levels, orientations)
    half = torch.fft.rfft2(x)
    parts = torch.fft.irfft2(half.unsqueeze(-3) * filters.first_split, s=tuple(x.shape[-2:]))
    out = [torch.hypot(parts[..., 0, :, :], parts[..., 1, :, :])]
    if levels > 1:
        spectrum = full_corners(half, filters.sizes[1])
        for size, mask in zip(filters.sizes[1:], filters.summed[1:]):
            out.append(torch.fft.ifft2(crop_spectrum(spectrum, size) * mask).abs())
    return out
