"""Soft Dice + soft clDice (Table 1 row "clDice"), docs/BASELINES.md §3.11 (Shit et al., arXiv:2003.07311).

``L = (1−α)·softDice + α·(1 − clDice)`` with α = 0.5, smooth s = 1, on the class-1 channel only
(``p`` and ``y``), all sums over the whole batch:

- ``softDice = 1 − (2Σpy + s)/(Σy + Σp + s)``;
- ``Tprec = (Σ skel(p)·y + s)/(Σ skel(p) + s)``, ``Tsens = (Σ skel(y)·p + s)/(Σ skel(y) + s)``;
- ``clDice = 2·Tprec·Tsens/(Tprec + Tsens)``;
- ``skel`` is the iterated min/max-pool soft skeleton with 10 iterations.

The SPW copy's ``soft_dice_cldice(iter_=3)`` ignores ``iter_`` and always runs
``SoftSkeletonize(num_iter=10)``; here the iteration count is one real keyword, ``num_iter``.

Speed: the soft skeleton is :mod:`losses.soft_skeleton`'s (bit-identical values, the reference's
gradient routing, no ``F.max_pool2d``); the label's skeleton is computed without autograd, by boolean
morphology when the label is binary.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .base import SegLoss, class_one_probability
from .soft_skeleton import binary_soft_skeleton
from .soft_skeleton import soft_skeleton as fast_soft_skeleton


def soft_skeleton(x: torch.Tensor, num_iter: int = 10) -> torch.Tensor:
    """Soft skeleton of ``(N, C, H, W)`` maps in [0, 1] (docs/BASELINES.md §3.11), 10 iterations by default.

    ``skel = ReLU(x − open(x))`` with ``open = dilate∘erode``; then ``num_iter`` times: ``x ← erode(x)``,
    ``δ = ReLU(x − open(x))``, ``skel ← skel + ReLU(δ − skel·δ)``. Computed by
    :func:`losses.soft_skeleton.soft_skeleton` (the reference's values, without its slow pooling kernels).
    """
    return fast_soft_skeleton(x, num_iter)


def soft_dice_loss(p: torch.Tensor, y: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Foreground soft Dice loss ``1 − (2Σpy + s)/(Σy + Σp + s)`` over the whole batch."""
    return 1 - (2 * (p * y).sum() + smooth) / (y.sum() + p.sum() + smooth)


def topology_precision_sensitivity(
    p: torch.Tensor, y: torch.Tensor, num_iter: int = 10, smooth: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Tprec, Tsens)`` of the soft clDice, batch-global sums.

    Args:
        p, y: class-1 probabilities and binary target, ``(B, H, W)``, same dtype.
    """
    skel_p = soft_skeleton(p.unsqueeze(1), num_iter).squeeze(1)
    with torch.no_grad():  # the label's skeleton is a constant: no autograd graph, no saved tensors
        if ((y == 0) | (y == 1)).all():  # a binary label: the same values by boolean morphology
            skel_y = binary_soft_skeleton(y, num_iter).to(y.dtype)
        else:
            skel_y = soft_skeleton(y.unsqueeze(1), num_iter).squeeze(1)
    tprec = ((skel_p * y).sum() + smooth) / (skel_p.sum() + smooth)
    tsens = ((skel_y * p).sum() + smooth) / (skel_y.sum() + smooth)
    return tprec, tsens


def soft_dice_cldice_loss(
    p: torch.Tensor, y: torch.Tensor, alpha: float = 0.5, smooth: float = 1.0, num_iter: int = 10
) -> torch.Tensor:
    """``(1−α)·softDice + α·(1 − 2·Tprec·Tsens/(Tprec + Tsens))`` on ``(B, H, W)`` inputs.

    With ``smooth > 0`` every ratio is defined, also for empty and full targets
    (Tprec, Tsens ≥ s/(Σ + s) > 0, so the harmonic mean never divides by 0).
    """
    tprec, tsens = topology_precision_sensitivity(p, y, num_iter, smooth)
    cl_dice = 1 - 2 * tprec * tsens / (tprec + tsens)
    return (1 - alpha) * soft_dice_loss(p, y, smooth) + alpha * cl_dice


class ClDiceLoss(SegLoss):
    """Soft Dice + soft clDice on the class-1 channel (row "clDice", docs/BASELINES.md §3.11).

    Args:
        alpha: weight of the clDice term (default 0.5; the Dice term gets 1 − alpha).
        smooth: s added to every numerator and denominator (default 1.0); must be > 0.
        num_iter: soft-skeleton iterations (default 10, what the paper-time code ran).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; no maps.
    """

    def __init__(self, alpha: float = 0.5, smooth: float = 1.0, num_iter: int = 10) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"ClDiceLoss: alpha must be in [0, 1], got {alpha}")
        if smooth <= 0:
            raise ValueError(f"ClDiceLoss: smooth must be > 0 (it keeps empty masks defined), got {smooth}")
        if int(num_iter) < 0:
            raise ValueError(f"ClDiceLoss: num_iter must be >= 0, got {num_iter}")
        self.alpha = float(alpha)
        self.smooth = float(smooth)
        self.num_iter = int(num_iter)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        p = class_one_probability(logits)
        return soft_dice_cldice_loss(p, target.to(p.dtype), self.alpha, self.smooth, self.num_iter)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, smooth={self.smooth}, num_iter={self.num_iter}"
