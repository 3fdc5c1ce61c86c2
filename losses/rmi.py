"""Region mutual information loss (Table 1 row "RMI"), docs/BASELINES.md §3.10 (Zhao et al., arXiv:1910.12037).

``L = λ·BCE + (1−λ)·RMI`` with λ = 0.5, as the SPW copy of ``RMILoss`` (``num_classes=2``,
``lambda_way=1``) computes it on the two-channel probabilities ``X = [1−p, p]`` and the
one-hot target ``T = [1−y, y]``:

- BCE = ``F.binary_cross_entropy(X, T, reduction="sum") / (B·H·W + 1)``: no +1e-6 on X, each
  log clamped at −100 by PyTorch, the divisor counts pixels (+1), not pixel-channels.
- RMI lower bound, per image b and class c: max-pool labels and ``X + 1e-6`` (``_CLIP_MIN``)
  with a 3×3 window, stride 3, padding 1; stack the R² = 9 shifted views of every valid
  3×3 neighbourhood into ``Y, P ∈ ℝ^{9×M}``; in float64 centre them and form
  ``Σ_{Y|P} = YYᵀ − YPᵀ(PPᵀ + αI)⁻¹PYᵀ`` with α = 5e-4; ``r = ½·logdet(Σ_{Y|P} + αI)`` by
  Cholesky, ``2Σ log(diag(L) + 1e-8)``. The term is ``Σ_c mean_b r_bc / R²``.

Unlike the repo (``torch.cuda.DoubleTensor`` hard-coded) this runs on any device.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from .base import SegLoss, class_one_probability

#: Added to the probabilities before the RMI term only (the repo's ``_CLIP_MIN``).
CLIP_MIN = 1e-6
#: Added to ``diag(L)`` inside the Cholesky log-determinant (the repo's ``log_det_by_cholesky``).
CHOLESKY_EPS = 1e-8

POOLS = ("max", "avg")


def two_channel(p: torch.Tensor) -> torch.Tensor:
    """``[1−p, p]`` stacked on a channel axis: ``(B, H, W)`` → ``(B, 2, H, W)``."""
    return torch.stack((1 - p, p), dim=1)


def rmi_bce(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The RMI repo's BCE term: ``binary_cross_entropy(x, t, "sum") / (B·H·W + 1)``.

    Args:
        x: two-channel probabilities ``(B, 2, H, W)``; t: the one-hot target, same shape.

    PyTorch clamps each log at −100, so saturated float32 predictions give a finite
    value and a finite gradient (as in the repo).
    """
    b, _, h, w = x.shape
    return F.binary_cross_entropy(x, t, reduction="sum") / (b * h * w + 1.0)


def downsample(x: torch.Tensor, size: int, stride: int, pool: str) -> torch.Tensor:
    """Pool ``(B, C, H, W)`` with padding ``size // 2`` (the repo's ``rmi_pool_way`` 0 = max, 1 = avg)."""
    if stride <= 1:
        # The repo skips pooling entirely for a stride of 1.
        return x
    if pool == "max":
        return F.max_pool2d(x, kernel_size=size, stride=stride, padding=size // 2)
    # avg_pool2d counts the zero padding (count_include_pad=True), like the repo's call.
    return F.avg_pool2d(x, kernel_size=size, stride=stride, padding=size // 2)


def neighbourhood_vectors(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Stack the R² shifted views of every valid R×R neighbourhood.

    Args:
        x: ``(B, C, h, w)`` with ``h, w ≥ radius``.

    Returns:
        ``(B, C, R², M)`` with ``M = (h − R + 1)(w − R + 1)``; row ``dy·R + dx`` holds the
        pixel at offset ``(dy, dx)`` of each neighbourhood (the repo's ``map_get_pairs`` order).
    """
    b, c, h, w = x.shape
    nh, nw = h - radius + 1, w - radius + 1
    views = [x[:, :, dy : dy + nh, dx : dx + nw] for dy in range(radius) for dx in range(radius)]
    return torch.stack(views, dim=2).reshape(b, c, radius * radius, nh * nw)


def log_det_by_cholesky(matrix: torch.Tensor) -> torch.Tensor:
    """``log det`` of symmetric positive-definite ``(..., n, n)`` as ``2Σ log(diag(L) + 1e-8)``.

    Raises:
        ValueError: a matrix is not positive definite (the repo's ``torch.cholesky`` would crash).
    """
    chol, info = torch.linalg.cholesky_ex(matrix)
    if bool((info > 0).any()):
        raise ValueError(
            "RMI: the conditional covariance Σ_{Y|P} + αI is not positive definite "
            f"(Cholesky failed for {int((info > 0).sum())} of {info.numel()} matrices); "
            "increase pos_alpha"
        )
    return 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1) + CHOLESKY_EPS).sum(dim=-1)


def rmi_lower_bound(
    labels: torch.Tensor,
    probs: torch.Tensor,
    radius: int = 3,
    pool_size: int = 3,
    pool_stride: int = 3,
    pool: str = "max",
    pos_alpha: float = 5e-4,
) -> torch.Tensor:
    """The RMI term ``Σ_c mean_b ½·logdet(Σ_{Y|P} + αI) / R²`` (docs/BASELINES.md §3.10 steps 1–6).

    Args:
        labels: one-hot target ``(B, C, H, W)``; probs: probabilities ``(B, C, H, W)``
            (already shifted by ``CLIP_MIN``).

    Returns:
        A scalar in the dtype of ``probs``; the covariance algebra runs in float64.

    Raises:
        ValueError: the pooled map is smaller than ``radius`` (no neighbourhood; the repo
            would average over zero vectors and return NaN).
    """
    labels = downsample(labels, pool_size, pool_stride, pool)
    probs = downsample(probs, pool_size, pool_stride, pool)
    h, w = probs.shape[-2:]
    if h < radius or w < radius:
        raise ValueError(
            f"RMI: the pooled prediction is {h}x{w}, smaller than the {radius}x{radius} "
            f"neighbourhood (input {tuple(probs.shape)} after pooling with size {pool_size}, "
            f"stride {pool_stride}); use larger crops or a smaller radius"
        )
    # The repo casts the stacked vectors to float64 before centring (torch.cuda.DoubleTensor).
    la = neighbourhood_vectors(labels, radius).double()
    pr = neighbourhood_vectors(probs, radius).double()
    la = la - la.mean(dim=3, keepdim=True)
    pr = pr - pr.mean(dim=3, keepdim=True)
    eye = torch.eye(radius * radius, dtype=pr.dtype, device=pr.device)
    la_cov = la @ la.transpose(2, 3)
    pr_cov = pr @ pr.transpose(2, 3)
    la_pr_cov = la @ pr.transpose(2, 3)
    # Σ_YP (Σ_P + αI)⁻¹ Σ_PY; a solve instead of the repo's explicit inverse (same value in float64).
    explained = la_pr_cov @ torch.linalg.solve(pr_cov + pos_alpha * eye, la_pr_cov.transpose(2, 3))
    appro_var = la_cov - explained
    rmi_now = 0.5 * log_det_by_cholesky(appro_var + pos_alpha * eye)
    # Quirk of the repo: the per-class batch mean is cast back to the working float dtype
    # (``.float()`` there) before the division by R².
    rmi_per_class = rmi_now.mean(dim=0).to(probs.dtype) / float(radius * radius)
    return rmi_per_class.sum()


class RMILoss(SegLoss):
    """``λ·BCE + (1−λ)·RMI lower bound`` (row "RMI", docs/BASELINES.md §3.10).

    Args:
        weight_lambda: λ, weight of the BCE term (``loss_weight_lambda``, default 0.5).
        radius: R, side of the neighbourhood giving R²-dimensional vectors (default 3).
        pool_size: downsampling window (default 3; the repo requires size == stride).
        pool_stride: downsampling stride (default 3).
        pool: ``"max"`` (the class default ``rmi_pool_way=0``) or ``"avg"`` (the official
            training script's choice).
        pos_alpha: α added to the covariance diagonals (default 5e-4).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; no maps. The pooled
    image must be at least ``radius`` pixels on each side (``ValueError`` otherwise).
    """

    def __init__(
        self,
        weight_lambda: float = 0.5,
        radius: int = 3,
        pool_size: int = 3,
        pool_stride: int = 3,
        pool: str = "max",
        pos_alpha: float = 5e-4,
    ) -> None:
        super().__init__()
        if not 0.0 <= weight_lambda <= 1.0:
            raise ValueError(f"RMILoss: weight_lambda must be in [0, 1], got {weight_lambda}")
        if int(radius) < 1:
            raise ValueError(f"RMILoss: radius must be >= 1, got {radius}")
        if int(pool_size) < 1 or int(pool_stride) < 1:
            raise ValueError(
                f"RMILoss: pool_size and pool_stride must be >= 1, got {pool_size} and {pool_stride}"
            )
        if pool not in POOLS:
            raise ValueError(f"RMILoss: pool must be one of {POOLS}, got {pool!r}")
        if pos_alpha <= 0:
            raise ValueError(f"RMILoss: pos_alpha must be > 0 (it keeps Cholesky defined), got {pos_alpha}")
        self.weight_lambda = float(weight_lambda)
        self.radius = int(radius)
        self.pool_size = int(pool_size)
        self.pool_stride = int(pool_stride)
        self.pool = pool
        self.pos_alpha = float(pos_alpha)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        x = two_channel(class_one_probability(logits))
        t = two_channel(target.to(x.dtype))
        bce = rmi_bce(x, t)
        rmi = rmi_lower_bound(
            t, x + CLIP_MIN, self.radius, self.pool_size, self.pool_stride, self.pool, self.pos_alpha
        )
        return self.weight_lambda * bce + (1 - self.weight_lambda) * rmi

    def extra_repr(self) -> str:
        return (
            f"weight_lambda={self.weight_lambda}, radius={self.radius}, pool_size={self.pool_size}, "
            f"pool_stride={self.pool_stride}, pool={self.pool!r}, pos_alpha={self.pos_alpha}"
        )
