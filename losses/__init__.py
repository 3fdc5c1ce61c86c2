"""Segmentation losses behind one contract (see :mod:`losses.base`) and one registry.

``LOSSES`` maps each registered name to its class; ``build_loss(name, **kwargs)``
builds one. To add a loss: write ``losses/<name>.py`` with a :class:`SegLoss`
subclass, add one line to ``LOSSES`` below, and add its tests.
"""

from __future__ import annotations

from common.names import did_you_mean

from .abw import ABWLoss
from .base import EPS, MAP_CHANNELS, SegLoss
from .boundary import BoundaryLoss, BoundaryTermLoss
from .cldice import ClDiceLoss
from .cross_entropy import BalancedCELoss, CELoss
from .focal import FocalLoss
from .hausdorff_dt import HausdorffDTLoss
from .lovasz import LovaszLoss
from .overlap import DiceLoss, JaccardLoss, TverskyLoss
from .rmi import RMILoss
from .skea_topo import SkeaTopoLoss
from .spw import SPWLoss
from .wce import WCELoss

LOSSES: dict[str, type[SegLoss]] = {
    "ce": CELoss,
    "balanced_ce": BalancedCELoss,
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
    "lovasz": LovaszLoss,
    "boundary": BoundaryLoss,
    "boundary_term": BoundaryTermLoss,
    "hausdorff_dt": HausdorffDTLoss,
}


#: Other accepted names: ``bce`` is the paper's Table 1 row name of class-balanced CE.
ALIASES: dict[str, str] = {"bce": "balanced_ce"}


def canonical_loss_name(name: str) -> str:
    """The registered name of ``name`` (aliases resolved); ValueError with did-you-mean if unknown."""
    name = ALIASES.get(name, name)
    if name not in LOSSES:
        raise ValueError(did_you_mean("loss", name, [*LOSSES, *ALIASES]))
    return name


def build_loss(name: str, **kwargs) -> SegLoss:
    """Build the registered loss ``name`` with keyword hyper-parameters.

    Raises:
        ValueError: unknown name (lists the names and suggests the nearest).
        TypeError: a keyword the loss's constructor does not accept.
    """
    return LOSSES[canonical_loss_name(name)](**kwargs)


__all__ = ["ALIASES", "EPS", "LOSSES", "MAP_CHANNELS", "SegLoss", "build_loss", "canonical_loss_name"]
