"""An example plugin package for tests: losses defined outside losses/ and loaded by path."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losses.base import SegLoss


class MyLoss(SegLoss):
    """A plugin SegLoss: CE plus ``alpha`` times the mean class-1 probability outside the target."""

    def __init__(self, alpha: float = 0.1) -> None:
        super().__init__()
        self.alpha = alpha

    def compute(self, logits, target, maps):
        p = torch.softmax(logits, dim=1)[:, 1]
        return F.cross_entropy(logits, target) + self.alpha * (p * (1 - target)).mean()


def plain_ce(logits, target):
    """A plain function (logits, target) -> scalar, wrapped into the contract."""
    return F.cross_entropy(logits, target)


def not_a_scalar(logits, target):
    return F.cross_entropy(logits, target, reduction="none")


def no_gradient(logits, target):
    return torch.tensor(1.0)


def infinite(logits, target):
    return F.cross_entropy(logits, target) * float("inf")


NOT_CALLABLE = 3
