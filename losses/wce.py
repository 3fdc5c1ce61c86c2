"""Weighted CE with the U-Net weight map (Table 1 row "WCE"), docs/BASELINES.md §3.7.

``L = −mean[(M + c1)·y·log(p+ε) + c0·(1−y)·log(1−p+ε)]`` over all B·H·W pixels, where
``M = maps["wce"]`` is the precomputed U-Net border map ``10·exp(−(d1+d2)²/(2·5²))·y``
(``losses.maps.wce_map``). The map's w0 and σ live in its generator, so the loss itself
has no hyper-parameter.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .base import SegLoss, class_one_probability, per_image_class_weights
from .cross_entropy import weighted_binary_ce


class WCELoss(SegLoss):
    """Class-balanced CE plus the U-Net border map on class-1 pixels (row "WCE", docs/BASELINES.md §3.7).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64, ``maps["class_weight"]``
    ``(B,2)`` and ``maps["wce"]`` ``(B,1,H,W)``. The mean is a plain mean over pixels, not
    normalised by the weight sum (as the paper-time ``Unet_Weight_BCE``). The map only
    enters the class-1 term, so its values on class-0 pixels (zero by construction) do
    not matter.
    """

    required_maps = ("wce",)
    needs_class_weight = True

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        p = class_one_probability(logits)
        c0, c1 = per_image_class_weights(maps["class_weight"], p.dtype)
        border = maps["wce"][:, 0].to(p.dtype)
        return weighted_binary_ce(p, target.to(p.dtype), border + c1, c0)
