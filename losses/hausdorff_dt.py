"""Hausdorff distance-transform loss, docs/MODERN_LOSSES.md §hausdorff_dt.

Karimi and Salcudean, "Reducing the Hausdorff Distance in Medical Image Segmentation with
Convolutional Neural Networks", IEEE TMI 39(2), 2020 (arXiv:1904.10030), in the MONAI
implementation that serves as the reference: github.com/Project-MONAI/MONAI @ d388d1c6 (1.5.0;
the computation is the same in 1.6.1), ``monai/losses/hausdorff_loss.py::HausdorffDTLoss`` called as
``HausdorffDTLoss(alpha=2.0, include_background=False, to_onehot_y=True, softmax=True)(logits,
target[:, None])``.

With ``p = softmax(logits, 1)[:, 1]`` and ``g`` the target:
``L = mean_b mean_{h,w}[(p − g)² · (d_p^α + d_g^α)]``, where ``d_x`` is the distance field of a
binary mask ``m``: ``edt(m) + edt(¬m)`` (``scipy.ndimage.distance_transform_edt``, which MONAI
calls on CPU), i.e. every pixel's distance to the nearest pixel of the other side.

Reproduced behaviour (tested in ``tests/test_loss_hausdorff_dt.py``):

- ``d_p`` comes from the detached prediction thresholded strictly, ``p > 0.5``; ``d_g`` from ``g > 0.5``;
- an image whose mask is empty or full gets a zero field (MONAI skips it: the EDT of an
  all-ones mask is not defined);
- the fields are cast to float32 and ``d_p^α + d_g^α`` is computed in float32, then multiplied
  into the error ``(p − g)²`` of the logits' dtype (float64 logits: float64 error, float32 fields);
- only ``(p − g)²`` carries a gradient.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from scipy import ndimage as ndi

from .base import SegLoss, class_one_probability


def nearest_other_side(mask: np.ndarray) -> np.ndarray:
    """Row and column ``(2, H, W)`` int32 of each pixel's nearest pixel of the other side of ``mask``.

    scipy's feature transform of ``mask`` (nearest outside pixel, used inside) and of ``¬mask``
    (nearest mask pixel, used outside). ``mask`` must be neither empty nor full.
    """
    inside = ndi.distance_transform_edt(mask, return_distances=False, return_indices=True)
    outside = ndi.distance_transform_edt(~mask, return_distances=False, return_indices=True)
    np.copyto(inside, outside, where=~mask)
    return inside


def distance_field(mask: np.ndarray) -> np.ndarray:
    """MONAI's ``HausdorffDTLoss.distance_field`` of one bool ``(H, W)`` mask, float32.

    ``edt(m) + edt(¬m)``: inside the mask the distance to the nearest outside pixel, outside the
    distance to the nearest mask pixel. Zero when the mask is empty or full.

    Bit-identical to ``(distance_transform_edt(m) + distance_transform_edt(~m)).astype(float32)``
    (tested) at about half the arithmetic: one of the two terms is 0 at every pixel, so the sum
    is ``sqrt(Δrow² + Δcol²)`` to the other side's nearest pixel, with the exact integer squares
    that scipy also sums before its float64 ``sqrt``.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any() or mask.all():
        return np.zeros(mask.shape, dtype=np.float32)
    offsets = nearest_other_side(mask).astype(np.int64) - np.indices(mask.shape)
    squared = offsets[0] * offsets[0] + offsets[1] * offsets[1]
    return np.sqrt(squared.astype(np.float64)).astype(np.float32)


def distance_fields(masks: torch.Tensor) -> torch.Tensor:
    """:func:`distance_field` of each bool mask of ``(B, H, W)``, float32 on the masks' device."""
    with torch.no_grad():
        fields = np.stack([distance_field(m) for m in masks.cpu().numpy()])
        return torch.from_numpy(fields).to(masks.device)


def hausdorff_dt_loss(p: torch.Tensor, g: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """``mean_b mean_hw[(p − g)²·(d_p^α + d_g^α)]`` of ``(B, H, W)`` probabilities and float32 target.

    The distance term is float32 (MONAI's ``.float()`` fields); the error keeps ``p``'s dtype.
    """
    with torch.no_grad():
        distance = distance_fields(p.detach() > 0.5) ** alpha + distance_fields(g > 0.5) ** alpha
    error = (p - g) ** 2
    return (error * distance).mean(dim=(1, 2)).mean()


class HausdorffDTLoss(SegLoss):
    """MONAI ``HausdorffDTLoss(alpha, include_background=False, softmax=True)`` (docs/MODERN_LOSSES.md §hausdorff_dt).

    Args:
        alpha: exponent of the distance fields (default 2.0, MONAI's and the paper's); must be > 0.

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; no maps. The value is ≥ 0;
    it is 0 when the thresholded prediction and the target are both empty or both full.
    """

    def __init__(self, alpha: float = 2.0) -> None:
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"HausdorffDTLoss: alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        p = class_one_probability(logits)
        return hausdorff_dt_loss(p, target.to(torch.float32), self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
