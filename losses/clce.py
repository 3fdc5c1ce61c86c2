"""Centerline cross-entropy, clCE (Acebes et al., "The Centerline-Cross Entropy Loss for Vessel-Like
Structure Segmentation: Better Topology Consistency Without Sacrificing Accuracy", MICCAI 2024),
docs/MODERN_LOSSES.md §clce.

Official code: cesaracebes/centerline_CE @ 952a7c414ac386ed80f8f05ea920d763619b4086, the 2-D retina path
``retina_experiments/utils/loss_factory.py::clCELoss(iters=3)`` with its ``soft_skel``.

With ``L`` the per-pixel cross-entropy of the logits against the one-hot label, ``S_y`` the soft
skeleton (3 iterations) of the label and ``S_p`` that of the prediction ``p`` (both class 1)::

    clCE = mean_{b,h,w}(L·S_y) + mean_{b,h,w}(L·S_p)

- ``S_p`` is not detached: the gradient flows through ``L`` and through the prediction's skeleton.
- ``S_y`` is the soft skeleton of the one-hot label, not skimage's: the retina loader never provides a
  precomputed skeleton (``seg_sk``), so ``clCELoss`` skeletonizes ``y_true`` itself; it has no graph.
- The official ``smooth`` and ``include_background`` arguments are unused; they are not offered here.
- The soft skeleton is clDice's (:mod:`losses.soft_skeleton`); its channels are independent, so only the
  class-1 channel is computed.

Limit cases: a full label has an empty soft skeleton (the image border does not erode), so only the
``S_p`` term remains; an empty label gives ``S_y = 0`` too. The loss is ≥ 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from .base import SegLoss
from .soft_skeleton import binary_soft_skeleton, soft_skeleton


def centerline_ce(logits: torch.Tensor, target: torch.Tensor, iters: int = 3) -> torch.Tensor:
    """clCE of logits ``(B,2,H,W)`` and an int64 target ``(B,H,W)``, batch-global means."""
    onehot = F.one_hot(target, 2).permute(0, 3, 1, 2).to(logits.dtype)
    per_pixel = F.cross_entropy(logits, onehot, reduction="none")  # probability targets, as the official
    p = logits.softmax(dim=1)[:, 1:]
    skel_p = soft_skeleton(p, iters)[:, 0]
    with torch.no_grad():  # the one-hot label is binary: boolean morphology gives the same values
        skel_y = binary_soft_skeleton(target, iters).to(logits.dtype)
    return (per_pixel * skel_y).mean() + (per_pixel * skel_p).mean()


class ClCELoss(SegLoss):
    """Centerline cross-entropy (the bare clCE term); see the module docstring.

    Args:
        iters: soft-skeleton iterations (default 3, the official ``clCELoss`` default and value used).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; no maps.
    """

    def __init__(self, iters: int = 3) -> None:
        super().__init__()
        if int(iters) != iters or iters < 0:
            raise ValueError(f"ClCELoss: iters must be an integer >= 0, got {iters}")
        self.iters = int(iters)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        return centerline_ce(logits, target, self.iters)

    def extra_repr(self) -> str:
        return f"iters={self.iters}"
