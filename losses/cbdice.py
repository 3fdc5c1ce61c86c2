"""Centerline boundary Dice, cbDice (Shi et al., "Centerline Boundary Dice Loss for Vascular Segmentation",
MICCAI 2024), docs/MODERN_LOSSES.md §cbdice.

Official code: PengchengShi1220/cbDice @ a970c1d4e2fed9725b14a7556cc45979892dcce7,
``loss/cbdice_loss.py::SoftcbDiceLoss`` (morphological skeleton, the default) with
``loss/soft_skeleton.py::SoftSkeletonize``; trainer ``nnUNetTrainer_CE_DC_CBDC`` passes
``{'iter_': 10, 'smooth': 1e-3}`` (the class defaults are 10 and 1), the defaults here.

Binary formula, ``p`` the class-1 probability and ``y`` the label:

- without gradient: ``K_y = skel(y)``, ``K_p = skel(p > 0.5)`` (soft skeleton, ``iter_`` iterations);
  ``k_p = K_p·p`` carries the gradient;
- :func:`radius_weights` per image gives ``(q_v, q_sv, q_s)`` from the Euclidean distance map ``D`` of the
  mask (scipy's EDT, cast to float32 as MONAI's CPU path) and the skeleton radii ``R = D`` on the skeleton;
- ``tprec = (Σ q_sp·q_vl + s)/(Σ combine(q_spvp, q_slvl, q_sp) + s)``,
  ``tsens = (Σ q_sl·q_vp + s)/(Σ combine(q_slvl, q_spvp, q_sl) + s)`` over the whole batch, with
  ``combine(A, B, C) = B·C`` except ``A·C`` where ``A ≠ 0`` and ``B = 0``;
- ``loss = −2·tprec·tsens/(tprec + tsens)``: **negative by design**, in [−1, 0].

Reproduced details: the weight maps are float32 whatever the logits' dtype (the official code builds
them in float32 and runs only in float32: float64 logits crash it; here float64 logits give the same
formula with float32 weights); ``R_max = max(max R, 1)`` and ``R_min = max(min R, 1)`` over the whole
image (so ``R_min`` is 1 unless every pixel is skeleton); the prediction's skeleton mask is
``k_p > 0.5``. Limit cases: with an empty label and an empty prediction every sum is 0 and the loss is
−1; a prediction matching the label closely gives exactly −1 with a zero gradient (official behaviour).

The distance transforms run on CPU with scipy (as MONAI does without cuCIM); the soft skeletons of
the two binary masks are boolean morphology (:func:`losses.soft_skeleton.binary_soft_skeleton`, equal
values). That makes the loss practical on CPU: the official code spends most of its time in
``F.max_pool2d`` (~10 ms per 512² plane and pool on one thread; 53 pools per skeleton, two skeletons).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from scipy import ndimage

from .base import SegLoss, class_one_probability
from .soft_skeleton import binary_soft_skeleton


def distance_maps(masks: torch.Tensor) -> torch.Tensor:
    """float32 ``(B, H, W)`` Euclidean distance of each pixel of each mask to its background (0 outside).

    scipy's ``distance_transform_edt`` per image in float64, then float32: MONAI's CPU
    ``distance_transform_edt`` followed by the official ``.float()``.
    """
    planes = masks.detach().cpu().numpy()
    distances = np.stack([ndimage.distance_transform_edt(plane) for plane in planes])
    return torch.from_numpy(distances).float().to(masks.device)


def radius_weights(mask: torch.Tensor, skel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Official ``get_weights`` without the final products: float32 ``(D/R_max, R/R_max, I)`` ``(B, H, W)``.

    ``mask`` and ``skel`` are binary ``(B, H, W)``; ``D`` is clipped to ``R_max`` and
    ``I = (R_max − R + R_min)/R_max`` on the skeleton, 0 elsewhere (the 2-D, linear inverse).
    """
    distances = distance_maps(mask)
    distances[mask == 0] = 0
    radius = torch.where(skel == 1, distances, torch.zeros((), dtype=torch.float32, device=distances.device))
    one = torch.ones((), dtype=torch.float32, device=distances.device)
    r_max = torch.maximum(radius.amax((-2, -1), keepdim=True), one)
    r_min = torch.maximum(radius.amin((-2, -1), keepdim=True), one)
    distance_norm = torch.minimum(distances, r_max) / r_max
    radius_norm = radius / r_max
    inverse = torch.where(skel == 1, (r_max - radius + r_min) / r_max, torch.zeros_like(radius))
    return distance_norm, radius_norm, inverse


def combine(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``b·c``, except ``a·c`` where ``a ≠ 0`` and ``b = 0`` (official ``combine_tensors``)."""
    return torch.where((a != 0) & (b == 0), a * c, b * c)


def cbdice_loss(p: torch.Tensor, target: torch.Tensor, iter_: int = 10, smooth: float = 1e-3) -> torch.Tensor:
    """cbDice of class-1 probabilities ``p`` and an int64 target, both ``(B, H, W)``; batch-global sums."""
    with torch.no_grad():
        y = (target > 0).float()
        skel_hard = binary_soft_skeleton(p > 0.5, iter_).to(p.dtype)  # soft skeletons of binary maps
        skel_y = binary_soft_skeleton(y, iter_).float()
        dist_l, radius_l, inverse_l = radius_weights(y, skel_y)
    skel_p = skel_hard * p
    with torch.no_grad():
        dist_p, radius_p, inverse_p = radius_weights((p > 0.5).int(), (skel_p > 0.5).int())
    q_vl, q_slvl, q_sl = dist_l * y, radius_l * y, inverse_l * skel_y
    q_vp, q_spvp, q_sp = dist_p * p, radius_p * p, inverse_p * skel_p
    tprec = ((q_sp * q_vl).sum() + smooth) / (combine(q_spvp, q_slvl, q_sp).sum() + smooth)
    tsens = ((q_sl * q_vp).sum() + smooth) / (combine(q_slvl, q_spvp, q_sl).sum() + smooth)
    return -2.0 * (tprec * tsens) / (tprec + tsens)


class CbDiceLoss(SegLoss):
    """Centerline boundary Dice (the bare cbDice term, negative); see the module docstring.

    Args:
        iter_: soft-skeleton iterations (default 10).
        smooth: added to every numerator and denominator (default 1e-3, the trainer's value).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; no maps.
    """

    def __init__(self, iter_: int = 10, smooth: float = 1e-3) -> None:
        super().__init__()
        if int(iter_) != iter_ or iter_ < 0:
            raise ValueError(f"CbDiceLoss: iter_ must be an integer >= 0, got {iter_}")
        if not smooth > 0:
            raise ValueError(f"CbDiceLoss: smooth must be > 0 (it keeps empty masks defined), got {smooth}")
        self.iter_ = int(iter_)
        self.smooth = float(smooth)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        return cbdice_loss(class_one_probability(logits), target, self.iter_, self.smooth)

    def extra_repr(self) -> str:
        return f"iter_={self.iter_}, smooth={self.smooth}"
