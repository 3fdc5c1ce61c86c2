"""Skea-topo loss (Table 1 row "Skea-topo"), docs/BASELINES.md §3.9.

Liu et al., "Enhancing boundary segmentation for topological accuracy with skeleton-based
methods", IJCAI 2024 (arXiv:2404.18539), as copied into the SPW repo
(``method='skeaw_dilate_step20_iter2_bort'``). Two parts:

- a skeleton-aware weighted CE over the precomputed maps ``maps["skea_topo"]``
  ``(B,4,H,W)`` = [S₀, S₁, dilated GT-background skeleton, GT-foreground skeleton]
  (:func:`losses.maps.skea_topo_map`), with the label-dilation trick;
- the boundary rectification term (BoRT), added when the 0-based epoch is > 20, which
  relaxes the penalty on non-critical false negatives/positives found by skeletonising
  the thresholded prediction (on CPU, scikit-image Lee skeletons, every batch).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from .base import SegLoss, class_one_probability, per_image_class_weights
from .maps import grow_box, lee_skeleton

#: The ε the repo adds OUTSIDE the logs and to the denominator of the weighted CE.
SKEA_EPS = 1e-12

_CROSS = ndi.generate_binary_structure(2, 1)
_SQUARE3 = np.ones((3, 3), dtype=bool)


def dilate_label(g: torch.Tensor, iterations: int) -> torch.Tensor:
    """``iterations`` 3×3 max-pool dilations (stride 1) of a float ``(B, H, W)`` mask."""
    out = g.unsqueeze(1)
    for _ in range(iterations):
        out = F.max_pool2d(out, kernel_size=3, stride=1, padding=1)
    return out.squeeze(1)


def skeleton_aware_weights(
    g: torch.Tensor,
    skea_maps: torch.Tensor,
    c0: torch.Tensor,
    c1: torch.Tensor,
    w0: float,
    dilation_iters: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel weights ``(W₁, W₀)`` of the class-1 and class-0 terms, each ``(B, H, W)``.

    W₁ = w₀·S₁ + c₁·g and W₀ = w₀·S₀ + c₀·(1−g), then the label-dilation trick (§3.9):
    with δ the dilated label and T = ((1−S₀)·w₀ + c₁·g)·δ, class-0 pixels where T > W₀ move
    their weight to the class-1 term (W₁ += T·(1−g), W₀ = 0): object pixels near the
    boundary with a low skeleton weight are treated as boundary.

    Args:
        g: float target ``(B, H, W)``.
        skea_maps: ``(B, 4, H, W)`` maps in the dtype of ``g`` (channels 0 and 1 used).
        c0, c1: per-image class weights ``(B, 1, 1)``.
    """
    s0, s1 = skea_maps[:, 0], skea_maps[:, 1]
    w1 = w0 * s1 + c1 * g
    w_0 = w0 * s0 + c0 * (1 - g)
    t = ((1 - s0) * w0 + c1 * g) * dilate_label(g, dilation_iters)
    moved = t > w_0  # where T ≤ W₀ the repo sets T = 0
    w1 = w1 + torch.where(moved, t, torch.zeros_like(t)) * (1 - g)
    w_0 = torch.where(moved, torch.zeros_like(w_0), w_0)
    return w1, w_0


def weighted_log_loss(
    log_p: torch.Tensor, log_q: torch.Tensor, w1: torch.Tensor, w_0: torch.Tensor
) -> torch.Tensor:
    """``Σ[−W₁·(log p + ε) − W₀·(log(1−p) + ε)] / (ΣW₁ + ΣW₀ + ε)`` over the whole batch.

    Repo quirk: ε = 1e-12 sits outside the logs (it does not guard log 0); the logs come
    from ``log_softmax`` so they stay finite for saturated logits.
    """
    num = (-w1 * (log_p + SKEA_EPS) - w_0 * (log_q + SKEA_EPS)).sum()
    return num / (w1.sum() + w_0.sum() + SKEA_EPS)


def background_skeleton(mask0: np.ndarray) -> np.ndarray:
    """Union of the Lee skeletons of each 4-connected component of ``mask0``, 3×3-dilated.

    The same construction as map channel 2 (:func:`losses.maps.skea_topo_map`), here on the
    prediction. Each component is skeletonised alone on its bounding box grown by one pixel
    (Lee pads with zeros, so this equals the whole-image skeleton of that component).
    """
    labels, k = ndi.label(mask0, structure=_CROSS)
    skel = np.zeros(mask0.shape, dtype=bool)
    for index, (sy, sx) in enumerate(ndi.find_objects(labels, max_label=k), start=1):
        win = grow_box((sy, sx), 1, mask0.shape)
        skel[win] |= lee_skeleton(labels[win] == index)
    return ndi.binary_dilation(skel, structure=_SQUARE3)


def components_touching(errors: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The 4-connected components of ``errors`` that contain at least one ``seeds`` pixel."""
    labels, _ = ndi.label(errors, structure=_CROSS)
    hit = np.unique(labels[seeds & errors])
    return np.isin(labels, hit[hit > 0])


def critical_errors(
    pred: np.ndarray, gt: np.ndarray, gt_bg_skeleton: np.ndarray, gt_fg_skeleton: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Topologically critical false negatives and false positives of one image (BoRT, §3.9).

    Args:
        pred: bool ``(H, W)`` thresholded prediction (p > 0.5).
        gt: bool ``(H, W)`` target.
        gt_bg_skeleton: bool ``(H, W)`` map channel 2 (dilated GT-background skeleton).
        gt_fg_skeleton: bool ``(H, W)`` map channel 3 (GT-foreground skeleton).

    Returns:
        ``(tfn, tfp)`` bool ``(H, W)``:
        tfn = FN components holding an FN pixel on the dilated predicted-background skeleton,
        ∪ FN components holding a pixel of [GT-fg skeleton ∧ ¬dilated prediction];
        tfp = ([FP ∧ GT-bg skeleton] ∪ FP components holding a pixel of
        [predicted-fg skeleton ∧ ¬dilated label]) ∧ ¬dilated label.
    """
    fn = gt & ~pred
    fp = pred & ~gt
    pred_bg_skel = background_skeleton(~pred)
    pred_fg_skel = lee_skeleton(pred)
    pred_dil = ndi.binary_dilation(pred, structure=_SQUARE3)
    gt_dil = ndi.binary_dilation(gt, structure=_SQUARE3)
    tfn = components_touching(fn, pred_bg_skel) | components_touching(fn, gt_fg_skeleton & ~pred_dil)
    tfp = (fp & gt_bg_skeleton) | components_touching(fp, pred_fg_skel & ~gt_dil)
    return tfn, tfp & ~gt_dil


def bort_term(p: torch.Tensor, g: torch.Tensor, skea_maps: torch.Tensor) -> torch.Tensor:
    """L_bort = Σ[(tp+tfn)(1−p) + ffn·p + (tn+tfp)·p + ffp·(1−p)] / Σ(all six masks).

    Masks are computed without gradient on CPU (scikit-image), per image; the sums run over
    the whole batch. Repo quirk followed (the SPW copy): the non-critical FN term uses p,
    the class-1 probability (the official Skea-topo repo indexes channel 0 there).

    Args:
        p: class-1 probability ``(B, H, W)``; g: float target ``(B, H, W)``;
        skea_maps: ``(B, 4, H, W)`` (channels 2 and 3 used).
    """
    with torch.no_grad():
        pred_np = (p > 0.5).cpu().numpy()  # a tie (p = 0.5) goes to class 0, as argmax does
        gt_np = (g > 0.5).cpu().numpy()
        skel_np = (skea_maps[:, 2:4] > 0.5).cpu().numpy()
        tfn = np.zeros(pred_np.shape, dtype=bool)
        tfp = np.zeros(pred_np.shape, dtype=bool)
        for b in range(pred_np.shape[0]):
            tfn[b], tfp[b] = critical_errors(pred_np[b], gt_np[b], skel_np[b, 0], skel_np[b, 1])
        pred_t = torch.from_numpy(pred_np).to(p.device, p.dtype)
        tfn_t = torch.from_numpy(tfn).to(p.device, p.dtype)
        tfp_t = torch.from_numpy(tfp).to(p.device, p.dtype)
        tp, tn = g * pred_t, (1 - g) * (1 - pred_t)
        ffn = g * (1 - pred_t) - tfn_t
        ffp = (1 - g) * pred_t - tfp_t
    num = ((tp + tfn_t) * (1 - p) + ffn * p + (tn + tfp_t) * p + ffp * (1 - p)).sum()
    return num / (tp + tfn_t + ffn + tn + tfp_t + ffp).sum()


class SkeaTopoLoss(SegLoss):
    """Skeleton-aware weighted CE plus BoRT (row "Skea-topo", docs/BASELINES.md §3.9).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64, ``maps["class_weight"]``
    ``(B,2)`` (per image, as the repo's ``class_weight[:, c, :]``) and ``maps["skea_topo"]``
    ``(B,4,H,W)``.

    Args:
        w0: weight of the skeleton-aware maps (10).
        bort_weight: λ of the BoRT term (1.0).
        bort_start_epoch: BoRT is added when the 0-based epoch set by :meth:`set_epoch` is
            strictly greater than this (20: off at 20, first on at 21; the repo's step=20).
        dilation_iters: 3×3 dilations of the label in the dilation trick (2).

    Repo quirk reproduced: the maps are rounded to float32 (``weight_maps.float()``) even in
    a float64 run; class weights, p and the sums stay in the input dtype.
    """

    required_maps = ("skea_topo",)
    needs_class_weight = True

    def __init__(
        self, w0: float = 10.0, bort_weight: float = 1.0, bort_start_epoch: int = 20, dilation_iters: int = 2
    ) -> None:
        super().__init__()
        if int(dilation_iters) != dilation_iters or dilation_iters < 0:
            raise ValueError(f"dilation_iters must be an integer >= 0, got {dilation_iters}")
        if int(bort_start_epoch) != bort_start_epoch:
            raise ValueError(f"bort_start_epoch must be an integer, got {bort_start_epoch}")
        self.w0 = float(w0)
        self.bort_weight = float(bort_weight)
        self.bort_start_epoch = int(bort_start_epoch)
        self.dilation_iters = int(dilation_iters)

    @property
    def bort_active(self) -> bool:
        """Whether the BoRT term is added at the current epoch."""
        return self.epoch > self.bort_start_epoch

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        log_probs = torch.log_softmax(logits, dim=1)
        g = target.to(logits.dtype)
        skea_maps = maps["skea_topo"].float().to(logits.dtype)
        c0, c1 = per_image_class_weights(maps["class_weight"], logits.dtype)
        w1, w_0 = skeleton_aware_weights(g, skea_maps, c0, c1, self.w0, self.dilation_iters)
        loss = weighted_log_loss(log_probs[:, 1], log_probs[:, 0], w1, w_0)
        if self.bort_active and self.bort_weight != 0:
            p = class_one_probability(logits)
            loss = loss + self.bort_weight * bort_term(p, g, skea_maps)
        return loss
