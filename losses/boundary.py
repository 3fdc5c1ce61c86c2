"""Boundary loss (surface loss) with the generalized Dice, docs/MODERN_LOSSES.md §boundary.

Kervadec, Bouchtiba, Desrosiers, Granger, Dolz and Ben Ayed, "Boundary loss for highly
unbalanced segmentation", MIDL 2019 / Medical Image Analysis 2021 (arXiv:1812.07032).
Official code: github.com/LIVIAETS/boundary-loss @ 171c32d8 — ``losses.py::SurfaceLoss``
(alias ``BoundaryLoss``), ``losses.py::GeneralizedDice``, ``utils.py::one_hot2dist``,
``dataloader.py::dist_map_transform``, ``scheduler.py::StealWeight``.

Terms, on the softmax probabilities ``P = softmax(logits, 1)`` and the one-hot target ``T``:

- surface term ``SL = mean_{b,h,w}(P_1 · φ_1)`` (``SurfaceLoss(idc=[1])``), where ``φ_1`` is the
  official signed distance map of class 1 (:func:`official_distance_map`);
- generalized Dice ``GDL = mean_b[1 − 2(Σ_k w_bk Σ P·T + 1e-10)/(Σ_k w_bk (ΣP + ΣT) + 1e-10)]``
  with ``w_bk = 1/(Σ_hw T_bk + 1e-10)²`` over k ∈ {0, 1} (``GeneralizedDice(idc=[0,1])``); an
  absent class gets w = 1e20, finite in float32 and float64.

``BoundaryLoss`` is ``w_GDL·GDL + w_SL·SL`` with the epoch schedule of :func:`boundary_weights`;
``BoundaryTermLoss`` is ``SL`` alone.

Reproduced quirks (tested in ``tests/test_loss_boundary.py``):

- the map is built per image from the target as the official data loader does
  (``class2one_hot`` → int32 → ``one_hot2dist``): ``np.zeros_like`` of the int32 one-hot keeps
  int32, so every distance is truncated toward zero: ``φ = trunc(d_out)`` outside the object and
  ``−trunc(d_in − 1)`` inside (0 on the first two rings of √2 distance), where ``d`` is
  ``scipy.ndimage.distance_transform_edt``; an absent class gets ``φ = 0``;
- the StealWeight schedule's floor of 0.1 on the GDL weight and its unbounded SL weight.

Suite decision where the official code is ill-defined: a target that fills its whole image has
no boundary; scipy's EDT of an all-ones mask then measures distances to a phantom pixel outside
the image, a meaningless map. Here such an image gets ``φ_1 = 0`` (as an empty one does), so its
surface term is 0 with zero gradient and only the GDL acts on it.

The official code casts to float32; here the computation keeps the logits' dtype (float32
equals the official values; float64 allows ``gradcheck``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from scipy import ndimage as ndi

from .base import SegLoss

#: ε of the official GeneralizedDice (in the class weights, the numerator and the denominator).
GDL_EPS = 1e-10
SCHEDULES = ("rebalance", "steal")


def official_distance_map(mask: np.ndarray) -> np.ndarray:
    """The official signed distance map of one class, int32 ``(H, W)`` (``utils.py::one_hot2dist``).

    ``trunc(edt(¬m))`` outside the mask and ``−trunc(edt(m) − 1)`` inside: the official
    ``res = np.zeros_like(seg)`` inherits int32 from the one-hot, so the float distances are
    truncated toward zero on assignment. Empty mask → zeros (official). Full mask → zeros (suite
    decision, module docstring: scipy would measure distances to a phantom pixel).

    Args:
        mask: bool ``(H, W)`` mask of the class.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any() or mask.all():
        return np.zeros(mask.shape, dtype=np.int32)
    outside = ~mask
    signed = ndi.distance_transform_edt(outside) * outside - (ndi.distance_transform_edt(mask) - 1) * mask
    return signed.astype(np.int32)  # float → int32 truncates toward zero, as numpy's assignment does


def target_distance_maps(target: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``φ_1`` of every image of an int64 ``(B, H, W)`` target, as ``(B, H, W)`` in ``dtype``.

    Computed on the CPU with scipy without gradient, then moved to the target's device.
    """
    with torch.no_grad():
        masks = (target == 1).cpu().numpy()
        maps = np.stack([official_distance_map(m) for m in masks])
        return torch.from_numpy(maps).to(device=target.device, dtype=dtype)


def surface_loss(p1: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """Surface term ``mean_{b,h,w}(p_1·φ_1)`` of ``(B, H, W)`` inputs (``SurfaceLoss(idc=[1])``)."""
    return (p1 * phi).mean()


def generalized_dice_loss(probs: torch.Tensor, onehot: torch.Tensor, eps: float = GDL_EPS) -> torch.Tensor:
    """Official ``GeneralizedDice(idc=[0,1])`` of ``(B, K, H, W)`` probabilities and one-hot target.

    Per image: ``1 − 2(Σ_k w_k I_k + ε)/(Σ_k w_k U_k + ε)`` with ``w_k = 1/(Σ T_k + ε)²``,
    ``I_k = Σ P_k T_k`` and ``U_k = Σ P_k + Σ T_k``; then the mean over images.
    """
    t_sum = onehot.sum(dim=(2, 3))
    w = 1 / (t_sum + eps) ** 2
    intersection = w * (probs * onehot).sum(dim=(2, 3))
    union = w * (probs.sum(dim=(2, 3)) + t_sum)
    per_image = 1 - 2 * (intersection.sum(1) + eps) / (union.sum(1) + eps)
    return per_image.mean()


def boundary_weights(epoch: int, schedule: str = "rebalance") -> tuple[float, float]:
    """``(w_GDL, w_SL)`` during the 0-based ``epoch``.

    - ``"rebalance"`` (the paper's rebalancing: α starts at 1 and drops by 0.01 per epoch down to
      0.01): α = max(1 − 0.01·epoch, 0.01), weights (α, 1 − α).
    - ``"steal"`` (the repository's ``gdl_surface_steal`` recipe in ``isles.make``/``wmh.make``):
      initial weights [1, 0.01], then ``scheduler.py::StealWeight(to_steal=0.01)`` after each
      epoch maps [a, b] to [max(0.1, a − 0.01), b + 0.01]; so during epoch e,
      w_GDL = max(0.1, 1 − 0.01e) and w_SL = 0.01(1 + e) (closed form; the official repeated
      float additions differ from it by ~1e-16).
    """
    if schedule == "rebalance":
        alpha = max(1.0 - 0.01 * epoch, 0.01)
        return alpha, 1.0 - alpha
    if schedule == "steal":
        return max(0.1, 1.0 - 0.01 * epoch), 0.01 * (1 + epoch)
    raise ValueError(f"boundary schedule must be one of {SCHEDULES}, got {schedule!r}")


class BoundaryLoss(SegLoss):
    """Generalized Dice + boundary (surface) loss with an epoch schedule (docs/MODERN_LOSSES.md §boundary).

    ``w_GDL·GDL(idc=[0,1]) + w_SL·SL(idc=[1])``, weights from :func:`boundary_weights` at the
    epoch given to :meth:`set_epoch` (0 before any call).

    Args:
        schedule: ``"rebalance"`` (default, the paper: α = max(1 − 0.01·epoch, 0.01),
            α·GDL + (1 − α)·SL) or ``"steal"`` (the repository's StealWeight recipe).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; no maps (φ_1 comes from
    the target). The surface term is negative inside the object, so the loss can be negative.
    """

    def __init__(self, schedule: str = "rebalance") -> None:
        super().__init__()
        if schedule not in SCHEDULES:
            raise ValueError(f"BoundaryLoss: schedule must be one of {SCHEDULES}, got {schedule!r}")
        self.schedule = str(schedule)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        probs = torch.softmax(logits, dim=1)
        onehot = torch.stack([target == 0, target == 1], dim=1).to(probs.dtype)
        phi = target_distance_maps(target, probs.dtype)
        w_gdl, w_sl = boundary_weights(self.epoch, self.schedule)
        return w_gdl * generalized_dice_loss(probs, onehot) + w_sl * surface_loss(probs[:, 1], phi)

    def extra_repr(self) -> str:
        return f"schedule={self.schedule!r}"


class BoundaryTermLoss(SegLoss):
    """The surface term alone, ``mean(p_1·φ_1)`` (official ``SurfaceLoss(idc=[1])``).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; no maps. Negative when the
    prediction sits inside the object; its minimum puts ``p_1 = 1`` exactly where ``φ_1 < 0``.
    """

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        p1 = torch.softmax(logits, dim=1)[:, 1]
        return surface_loss(p1, target_distance_maps(target, p1.dtype))
