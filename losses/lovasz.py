"""Lovász-Softmax loss, docs/MODERN_LOSSES.md §lovasz.

Berman, Rannen Triki and Blaschko, "The Lovász-Softmax loss: a tractable surrogate for the
optimization of the intersection-over-union measure in neural networks", CVPR 2018
(arXiv:1705.08790). Official code: github.com/bermanmaxim/LovaszSoftmax @ 7d48792d
(``pytorch/lovasz_losses.py::lovasz_softmax``), called there as
``lovasz_softmax(softmax(logits, 1), target, classes='present', per_image=False)``.

For a set of pixels (the whole batch, or one image with ``per_image=True``) and a class ``c``:
``e = |1[y=c] − p_c|`` sorted in decreasing order (permutation π); with ``G = Σ 1[y=c]``,
``J_k = 1 − (G − cumsum(fg_π)_k)/(G + cumsum(1 − fg_π)_k)`` and ``g = (J_1, J_2 − J_1, …)``,
the class's loss is ``Σ_k e_π(k)·g_k`` (the Lovász extension of the Jaccard loss). The loss is
the mean over the classes (``classes="present"``: only those present in the pixels' labels;
``"all"``: both), and with ``per_image=True`` the mean over images of those means.

Reproduced behaviour (each one tested in ``tests/test_loss_lovasz.py``):

- the pixels are flattened in (b, h, w) order and sorted with ``torch.sort(…, descending=True)``
  as in the official code, so even the order of tied errors is the same;
- both classes use their own softmax channel (``p_0`` and ``p_1``), as the official call does;
- an empty target has only class 0 present, a full target only class 1;
- the gradient of ``|fg − p|`` at ``p = fg`` is 0 (``torch.abs``), as in the official code.

Deliberate differences: the official ``classes is 'present'`` is an identity test on a string
(it only works because CPython interns the literal); here ``classes`` is compared by value.
The official code is float32-only (``torch.dot`` of float64 errors with its float32 weights
raises); here the weights take the dtype of the probabilities, so float64 also works (and
``gradcheck`` applies). In float32 the values equal the official ones.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .base import SegLoss

CLASS_MODES = ("present", "all")


def lovasz_jaccard_weights(fg_sorted: torch.Tensor) -> torch.Tensor:
    """Weights ``g`` of the Lovász extension of the Jaccard loss (Alg. 1 of the paper).

    Args:
        fg_sorted: 1-D float tensor of the class indicator ``1[y=c]``, in the order of the
            decreasingly sorted errors.

    Returns:
        ``g`` with ``g_1 = J_1`` and ``g_k = J_k − J_{k−1}``, same shape and dtype.
    """
    total = fg_sorted.sum()
    intersection = total - fg_sorted.cumsum(0)
    union = total + (1 - fg_sorted).cumsum(0)  # ≥ 1 for every k: never divides by 0
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


def lovasz_class_loss(prob: torch.Tensor, fg: torch.Tensor) -> torch.Tensor:
    """Lovász-Softmax term of one class: ``Σ_k e_π(k)·g_k`` on flat ``(P,)`` inputs.

    Args:
        prob: the class's probabilities ``(P,)``.
        fg: the class indicator ``(P,)`` in the dtype of ``prob``.
    """
    errors = (fg - prob).abs()
    errors_sorted, perm = torch.sort(errors, 0, descending=True)
    return torch.dot(errors_sorted, lovasz_jaccard_weights(fg[perm]))


def lovasz_softmax_flat(probs: tuple[torch.Tensor, ...], labels: torch.Tensor, classes: str) -> torch.Tensor:
    """Mean over the classes of :func:`lovasz_class_loss` for one set of pixels.

    Args:
        probs: one flat ``(P,)`` probability tensor per class, ``probs[c]`` for class ``c``.
        labels: flat int64 ``(P,)`` class labels.
        classes: ``"present"`` (skip the classes absent from ``labels``) or ``"all"``.
    """
    losses = []
    for c, prob in enumerate(probs):
        fg = (labels == c).to(prob.dtype)
        if classes == "present" and not bool(fg.any()):
            continue
        losses.append(lovasz_class_loss(prob, fg))
    # P > 0 and labels in {0, 1}: at least one class is present, so the list is never empty.
    return torch.stack(losses).mean()


def lovasz_softmax_loss(
    probs: torch.Tensor, target: torch.Tensor, classes: str = "present", per_image: bool = False
) -> torch.Tensor:
    """Lovász-Softmax of two-class probabilities ``(B, 2, H, W)`` and int64 labels ``(B, H, W)``.

    ``per_image=False`` pools every pixel of the batch into one set; ``per_image=True``
    averages the per-image losses.
    """
    if per_image:
        per = [lovasz_softmax_loss(probs[b : b + 1], target[b : b + 1], classes) for b in range(len(probs))]
        return torch.stack(per).mean()
    flat = tuple(probs[:, c].reshape(-1) for c in range(probs.shape[1]))
    return lovasz_softmax_flat(flat, target.reshape(-1), classes)


class LovaszLoss(SegLoss):
    """Lovász-Softmax on the softmax of the logits (docs/MODERN_LOSSES.md §lovasz).

    Args:
        classes: ``"present"`` (official default: average over the classes present in the
            pixels' labels) or ``"all"`` (both classes; an absent class then contributes the
            largest error of its channel).
        per_image: ``False`` (official default: one set of pixels per batch) or ``True``
            (the mean over images of the per-image losses).

    Input contract: logits ``(B,2,H,W)``, target ``(B,H,W)`` int64; no maps. The value is in
    [0, 1]; it is 0 exactly when ``p`` equals the one-hot target.
    """

    def __init__(self, classes: str = "present", per_image: bool = False) -> None:
        super().__init__()
        if classes not in CLASS_MODES:
            raise ValueError(f"LovaszLoss: classes must be one of {CLASS_MODES}, got {classes!r}")
        self.classes = str(classes)
        self.per_image = bool(per_image)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]):
        probs = torch.softmax(logits, dim=1)
        return lovasz_softmax_loss(probs, target, self.classes, self.per_image)

    def extra_repr(self) -> str:
        return f"classes={self.classes!r}, per_image={self.per_image}"
