"""Segmentation losses behind one contract (see :mod:`losses.base`) and one registry.

``LOSSES`` maps each registered name to its class; ``build_loss(name, **kwargs)``
builds one. To add a loss: write ``losses/<name>.py`` with a :class:`SegLoss`
subclass, add one line to ``LOSSES`` below, and add its tests.
"""

from __future__ import annotations

import difflib

from .abw import ABWLoss
from .base import EPS, MAP_CHANNELS, SegLoss
from .betti_matching import BettiMatchingLoss
from .cldice import ClDiceLoss
from .cross_entropy import BalancedCELoss, CELoss
from .focal import FocalLoss
from .overlap import DiceLoss, JaccardLoss, TverskyLoss
from .rmi import RMILoss
from .skea_topo import SkeaTopoLoss
from .spw import SPWLoss
from .wce import WCELoss

LOSSES: dict[str, type[SegLoss]] = {
    "ce": CELoss,
    "bce": BalancedCELoss,
    "dice": DiceLoss,
    "focal": FocalLoss,
    "jaccard": JaccardLoss,
    "tversky": TverskyLoss,
    "wce": WCELoss,
    "abw": ABWLoss,
    "skea_topo": SkeaTopoLoss,
    "rmi": RMILoss,
    "cldice": ClDiceLoss,
    "spw": SPWLoss,
    "betti_matching": BettiMatchingLoss,
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
