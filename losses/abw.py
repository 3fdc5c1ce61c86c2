"""Adaptive boundary weighting loss of WPU-Net (Table 1 row "ABW"), docs/BASELINES.md §3.8.

Map channels (``losses.maps.abw_map``): ``[bck, obj]``. The loss is the repo's
``WeightMapLoss`` with ``method=4`` (docs/METHOD.md §3 "ABW loss"):

- ``w_obj = obj`` where ``obj ≥ bck``, masked by the target ``y``; else 0;
- ``w_bck = bck`` where ``w_obj ≤ bck``; else 0;
- ``L = Σ[−w_bck·log(1−p) − w_obj·log p] / Σ(w_bck + w_obj)``, sums over the whole batch
  (a weighted mean, not class-balanced).

With the generator's maps (obj = 30 on class 1, bck ≥ 1 everywhere) this is 30 on class-1
pixels and ``bck`` on class-0 pixels.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .base import SegLoss


def abw_pixel_weights(
    bck: torch.Tensor, obj: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The class-0 and class-1 pixel weights of the repo's method 4.

    Args:
        bck, obj: map channels ``(B, H, W)``.
        y: binary target ``(B, H, W)`` in the dtype of the maps.

    Returns:
        ``(w_bck, w_obj)``, each ``(B, H, W)``.
    """
    zero = torch.zeros((), dtype=bck.dtype, device=bck.device)
    w_obj = torch.where(obj >= bck, obj, zero) * y
    w_bck = torch.where(w_obj <= bck, bck, zero)
    return w_bck, w_obj


def abw_loss(
    log_p0: torch.Tensor, log_p1: torch.Tensor, w_bck: torch.Tensor, w_obj: torch.Tensor
) -> torch.Tensor:
    """``Σ[−w_bck·log(1−p) − w_obj·log p] / Σ(w_bck + w_obj)`` over the batch.

    Args:
        log_p0, log_p1: ``log(1−p)`` and ``log p``, each ``(B, H, W)``.
        w_bck, w_obj: pixel weights from :func:`abw_pixel_weights`.

    A batch whose weights are all zero (only possible with a hand-made map; the
    generator's ``bck`` is ≥ 1) has no weighted pixel: the result is defined as 0
    instead of the repo's 0/0 = NaN.
    """
    num = -(w_bck * log_p0 + w_obj * log_p1).sum()
    den = (w_bck + w_obj).sum()
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(den.dtype).tiny), torch.zeros_like(num))


class ABWLoss(SegLoss):
    """WPU-Net adaptive boundary weighting loss (row "ABW", docs/BASELINES.md §3.8).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64, ``maps["abw"]``
    ``(B,2,H,W)`` with channels ``[bck, obj]``. No class weights, no hyper-parameter
    (w0 = 10, the boundary weight 30 and σ = d_max/2.58 live in the map generator).

    Deviation, on purpose: the repo takes ``log`` of the softmax probabilities with no ε,
    so ``p`` saturating to exactly 0 or 1 in float32 gives inf/NaN. Here ``log p`` and
    ``log(1−p)`` come from ``log_softmax`` of the logits: the same value in exact
    arithmetic (equal to the golden value within float32 rounding) but finite, with
    finite gradients, for saturated logits. The repo's ``.cuda()`` loss tensor
    (CPU crash) and its discarded 3×3 target dilation (dead code) are not reproduced.
    """

    required_maps = ("abw",)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        log_prob = torch.log_softmax(logits, dim=1)
        weight_map = maps["abw"].to(logits.dtype)
        w_bck, w_obj = abw_pixel_weights(weight_map[:, 0], weight_map[:, 1], target.to(logits.dtype))
        return abw_loss(log_prob[:, 0], log_prob[:, 1], w_bck, w_obj)
