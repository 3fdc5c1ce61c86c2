"""Focal loss with the per-image class weights as α (Table 1 row "Focal"), docs/BASELINES.md §3.4.

``L = −mean[c1·y·(1−p)^γ·log(p+ε) + c0·(1−y)·p^γ·log(1−p+ε)]`` (Lin et al., arXiv:1708.02002),
averaged over all B·H·W pixels like the paper-time code: it is class-balanced CE
(:mod:`losses.cross_entropy`) with the modulating factors folded into the weights.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .base import SegLoss, class_one_probability, per_image_class_weights
from .cross_entropy import weighted_binary_ce


def focal_loss(
    p: torch.Tensor, y: torch.Tensor, c1: torch.Tensor | float, c0: torch.Tensor | float, gamma: float
) -> torch.Tensor:
    """Class-weighted focal loss, mean over every pixel of the batch.

    Args:
        p: class-1 probabilities ``(B, H, W)``.
        y: binary target ``(B, H, W)`` in the dtype of ``p``.
        c1, c0: class weights broadcastable to ``(B, H, W)`` (``(B,1,1)`` per image).
        gamma: focusing exponent γ ≥ 0; γ = 0 gives class-balanced CE.

    The modulating factors ``(1−p)^γ`` and ``p^γ`` stay in the graph (they are part of
    the loss, as in the paper-time code); for γ ≥ 1 their gradient is finite at p ∈ {0, 1}.
    """
    return weighted_binary_ce(p, y, c1 * (1 - p) ** gamma, c0 * p**gamma)


class FocalLoss(SegLoss):
    """Focal loss, α = the image's class weights (c0, c1) (row "Focal", docs/BASELINES.md §3.4).

    Args:
        gamma: focusing exponent (paper default 2.0; the authors also ran 1.5, 2.5 and 3).
            Must be 0 or ≥ 1: for 0 < γ < 1 the gradient of ``p^γ`` is infinite at p = 0.

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64, ``maps["class_weight"]`` ``(B,2)``.
    """

    needs_class_weight = True

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        if not (gamma == 0 or gamma >= 1):
            raise ValueError(
                f"FocalLoss: gamma must be 0 or >= 1 (0 < gamma < 1 has an infinite gradient at p = 0), "
                f"got {gamma}"
            )
        self.gamma = float(gamma)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        p = class_one_probability(logits)
        c0, c1 = per_image_class_weights(maps["class_weight"], p.dtype)
        return focal_loss(p, target.to(p.dtype), c1, c0, self.gamma)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"
