"""CE and class-balanced CE (Table 1 rows "CE" and "BCE"), docs/METHOD.md §3.

Both follow the paper-time code literally: ``log`` of the softmax probability
plus ε = 1e-7, averaged over all B·H·W pixels (not over the weights).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .base import EPS, SegLoss, class_one_probability, per_image_class_weights


def weighted_binary_ce(
    p: torch.Tensor, y: torch.Tensor, w1: torch.Tensor | float, w0: torch.Tensor | float
) -> torch.Tensor:
    """``−mean[w1·y·log(p+ε) + w0·(1−y)·log(1−p+ε)]`` over every pixel of the batch.

    Args:
        p: class-1 probabilities ``(B, H, W)``.
        y: binary target ``(B, H, W)`` in the dtype of ``p``.
        w1, w0: weights broadcastable to ``(B, H, W)`` (scalars, ``(B,1,1)`` or per-pixel).
    """
    return -(w1 * y * torch.log(p + EPS) + w0 * (1 - y) * torch.log(1 - p + EPS)).mean()


class CELoss(SegLoss):
    """Plain binary cross-entropy on probabilities (the paper's ``BCELoss``, row "CE")."""

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        p = class_one_probability(logits)
        return weighted_binary_ce(p, target.to(p.dtype), 1.0, 1.0)


class BalancedCELoss(SegLoss):
    """Class-balanced cross-entropy with per-image (c0, c1) (row "BCE", docs/BASELINES.md §3.2)."""

    needs_class_weight = True

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        p = class_one_probability(logits)
        c0, c1 = per_image_class_weights(maps["class_weight"], p.dtype)
        return weighted_binary_ce(p, target.to(p.dtype), c1, c0)
