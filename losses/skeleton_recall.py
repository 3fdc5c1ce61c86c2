"""Soft skeleton recall (Kirchhoff et al., "Skeleton Recall Loss for Connectivity Conserving and Resource
Efficient Segmentation of Thin Tubular Structures", ECCV 2024), docs/MODERN_LOSSES.md §skeleton_recall.

Official code: MIC-DKFZ/Skeleton-Recall @ f259f63cbbb38fb397e135c292b24996c8df11b6 (nnU-Net fork),
``nnunetv2/training/loss/dice.py::SoftSkeletonRecallLoss`` and
``nnunetv2/training/data_augmentation/custom_transforms/skeletonization.py::SkeletonTransform``.

With ``p`` the class-1 probability and ``s`` the tubed skeleton of the label (below)::

    rec = (Σ p·s + smooth) / max(Σ s + smooth, 1e-8),    loss = −rec

sums over H, W and, with ``batch_dice`` (the nnU-Net 2d plans' value), over the batch; without it
the loss is the mean of the per-image values. The loss is **negative by design**, in [−1, 0]; an
image (or batch) without skeleton gives −smooth/smooth = −1 whatever the prediction, with zero
gradient (in float64 −1e-5/float32(1e-5), by the quirk below).

Tubed skeleton, per image (the official data transform): ``skimage.morphology.skeletonize`` of the
binary label (2-D default: Zhang's method), then two ``skimage.morphology.dilation`` with the
4-connected cross footprint (a tube of L1 radius 2), then multiplied by the label, so the tube stays
inside the object. skimage pads with background, so a label filling the image still has a skeleton.

Reproduced quirk: the official skeleton is int16, so ``Σ s`` is an integer tensor and ``Σ s + smooth``
is computed in torch's default float dtype (float32) even when the prediction is float64; the
float64 loss here divides by the same float32 denominator.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from scipy import ndimage
from skimage.morphology import dilation, skeletonize

from .base import SegLoss, class_one_probability

#: The default footprint of ``skimage.morphology.dilation`` in 2-D: the 4-connected cross.
CROSS = ndimage.generate_binary_structure(2, 1)


def tubed_skeleton(mask: np.ndarray) -> np.ndarray:
    """int16 ``(H, W)`` skeleton of a binary mask, dilated twice by the cross, restricted to the mask.

    An empty mask gives zeros (the official transform skips it).
    """
    mask = np.asarray(mask) > 0
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.int16)
    skel = (skeletonize(mask) > 0).astype(np.int16)
    skel = dilation(dilation(skel, CROSS), CROSS)
    return skel * mask.astype(np.int16)


def tubed_skeletons(target: torch.Tensor) -> torch.Tensor:
    """int16 ``(B, H, W)`` tubed skeletons of an int64 target, on the target's device."""
    with torch.no_grad():
        masks = target.detach().cpu().numpy()
        skeletons = np.stack([tubed_skeleton(m) for m in masks]) if len(masks) else masks.astype(np.int16)
        return torch.from_numpy(skeletons).to(target.device)


def skeleton_recall_loss(
    p: torch.Tensor, skeleton: torch.Tensor, batch_dice: bool = True, smooth: float = 1e-5
) -> torch.Tensor:
    """``−(Σ p·s + smooth)/max(Σ s + smooth, 1e-8)`` of ``(B, H, W)`` probabilities and int16 skeletons.

    Sums are per image over H, W, then over the batch when ``batch_dice``; the result is the mean
    of the remaining per-image ratios otherwise (the official reduction order).
    """
    intersection = (p * skeleton).sum((-2, -1))
    skeleton_size = skeleton.sum((-2, -1))  # int64, as the official int16 one-hot sums
    if batch_dice:
        intersection = intersection.sum(0)
        skeleton_size = skeleton_size.sum(0)
    recall = (intersection + smooth) / torch.clip(skeleton_size + smooth, 1e-8)
    return -recall.mean()


class SkeletonRecallLoss(SegLoss):
    """Soft skeleton recall on the class-1 channel (negative, in [−1, 0]); see the module docstring.

    Args:
        batch_dice: sum over the batch before the ratio (default True: nnU-Net's 2d plans).
        smooth: added to numerator and denominator (default 1e-5, the trainer's value).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; the tubed skeleton is computed
    from the target (skimage, on CPU); no maps.
    """

    def __init__(self, batch_dice: bool = True, smooth: float = 1e-5) -> None:
        super().__init__()
        if not smooth >= 0:
            raise ValueError(f"SkeletonRecallLoss: smooth must be >= 0, got {smooth}")
        self.batch_dice = bool(batch_dice)
        self.smooth = float(smooth)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        p = class_one_probability(logits)
        return skeleton_recall_loss(p, tubed_skeletons(target), self.batch_dice, self.smooth)

    def extra_repr(self) -> str:
        return f"batch_dice={self.batch_dice}, smooth={self.smooth}"
