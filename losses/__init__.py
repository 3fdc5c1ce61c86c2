"""Segmentation losses behind one contract (see :mod:`losses.base`) and one registry.

``LOSSES`` maps each registered name to its class; ``build_loss(name, **kwargs)``
builds one. To add a loss: write ``losses/<name>.py`` with a :class:`SegLoss`
subclass, add one line to ``LOSSES`` below, and add its tests.
"""

from __future__ import annotations

import difflib

from .base import EPS, MAP_CHANNELS, SegLoss
from .cross_entropy import BalancedCELoss, CELoss

LOSSES: dict[str, type[SegLoss]] = {
    "ce": CELoss,
    "bce": BalancedCELoss,
}


def build_loss(name: str, **kwargs) -> SegLoss:
    """Build the registered loss ``name`` with keyword hyper-parameters.

    Raises:
        ValueError: unknown name (lists the names and suggests the nearest).
        TypeError: a keyword the loss's constructor does not accept.
    """
    if name not in LOSSES:
        close = difflib.get_close_matches(name, LOSSES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown loss {name!r}; registered losses: {', '.join(LOSSES)}.{hint}")
    return LOSSES[name](**kwargs)


__all__ = ["EPS", "LOSSES", "MAP_CHANNELS", "SegLoss", "build_loss"]
