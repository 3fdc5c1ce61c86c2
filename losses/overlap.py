"""Region-overlap losses: Dice, Jaccard and Tversky (Table 1 rows), docs/METHOD.md §3.

All three follow the paper-time code (docs/BASELINES.md §3.3, §3.5, §3.6):

- the soft counts are sums over the **whole batch** (not per image, then averaged);
- the loss is one minus the **mean of the two classes'** scores: the class-1 score
  on ``p, y`` and the class-0 score on ``1 − p, 1 − y``;
- ε = 1e-7 is added to each denominator only (never to a numerator), so an empty
  class scores 0 instead of NaN, and the gradient stays finite for ``p`` at exactly
  0 or 1.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .base import EPS, SegLoss, class_one_probability


def soft_confusion(p: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Soft TP, FP, FN, TN of class 1, summed over every pixel of the batch.

    Args:
        p: class-1 probabilities ``(B, H, W)``.
        y: binary target ``(B, H, W)`` in the dtype of ``p``.

    Returns:
        Four scalars ``TP = Σpy``, ``FP = Σp(1−y)``, ``FN = Σ(1−p)y``, ``TN = Σ(1−p)(1−y)``.
    """
    q, z = 1 - p, 1 - y
    return (p * y).sum(), (p * z).sum(), (q * y).sum(), (q * z).sum()


def squared_dice_score(p: torch.Tensor, y: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """V-Net Dice score ``2Σpy / (Σy² + Σp² + ε)`` over the whole batch (docs/BASELINES.md §3.3)."""
    return 2 * (p * y).sum() / ((y * y).sum() + (p * p).sum() + eps)


def dice_loss(p: torch.Tensor, y: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Two-class squared-denominator Dice loss (docs/METHOD.md §3 row "Dice").

    ``1 − ½[D(p, y) + D(1−p, 1−y)]`` with :func:`squared_dice_score`; ``p, y`` are ``(B, H, W)``.
    """
    return 1 - 0.5 * (squared_dice_score(p, y, eps) + squared_dice_score(1 - p, 1 - y, eps))


def soft_iou_score(p: torch.Tensor, y: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Soft IoU ``Σpy / (Σ(p + y − py) + ε)`` over the whole batch (docs/BASELINES.md §3.5)."""
    inter = p * y
    return inter.sum() / ((p + y - inter).sum() + eps)


def jaccard_loss(p: torch.Tensor, y: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Two-class soft Jaccard loss ``1 − ½[J(p, y) + J(1−p, 1−y)]`` (docs/METHOD.md §3 row "Jaccard")."""
    return 1 - 0.5 * (soft_iou_score(p, y, eps) + soft_iou_score(1 - p, 1 - y, eps))


def tversky_loss(
    p: torch.Tensor, y: torch.Tensor, alpha: float, beta: float, eps: float = EPS
) -> torch.Tensor:
    """Two-class Tversky loss (docs/METHOD.md §3 row "Tversky", Salehi et al. arXiv:1706.05721).

    ``1 − ½[TP/(TP + α·FP + β·FN + ε) + TN/(TN + α·FN + β·FP + ε)]``: α weighs the false
    positives and β the false negatives of class 1; in the class-0 term the roles swap.
    ``p, y`` are ``(B, H, W)``; the counts come from :func:`soft_confusion`.
    """
    tp, fp, fn, tn = soft_confusion(p, y)
    fg = tp / (tp + alpha * fp + beta * fn + eps)
    bg = tn / (tn + alpha * fn + beta * fp + eps)
    return 1 - 0.5 * (fg + bg)


class DiceLoss(SegLoss):
    """Squared-denominator Dice, two-class mean, whole-batch sums (row "Dice", docs/BASELINES.md §3.3).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; no maps. Empty and full
    targets are defined (the empty class scores 0 through the ε in its denominator).
    """

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        p = class_one_probability(logits)
        return dice_loss(p, target.to(p.dtype))


class JaccardLoss(SegLoss):
    """Soft Jaccard (IoU), two-class mean, whole-batch sums (row "Jaccard", docs/BASELINES.md §3.5).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; no maps.
    """

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        p = class_one_probability(logits)
        return jaccard_loss(p, target.to(p.dtype))


class TverskyLoss(SegLoss):
    """Tversky loss, two-class mean, whole-batch sums (row "Tversky", docs/BASELINES.md §3.6).

    Args:
        alpha: weight of class-1 false positives (paper default 0.3; the authors also ran
            0.5, 0.4, 0.2, 0.1 with ``beta = 1 − alpha``).
        beta: weight of class-1 false negatives (paper default 0.7).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; no maps.
    """

    def __init__(self, alpha: float = 0.3, beta: float = 0.7) -> None:
        super().__init__()
        if alpha < 0 or beta < 0:
            raise ValueError(f"TverskyLoss: alpha and beta must be >= 0, got alpha={alpha}, beta={beta}")
        self.alpha = float(alpha)
        self.beta = float(beta)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        p = class_one_probability(logits)
        return tversky_loss(p, target.to(p.dtype), self.alpha, self.beta)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}"
