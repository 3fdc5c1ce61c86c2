"""Segmentation losses behind one contract (see :mod:`losses.base`) and one registry.

``LOSSES`` maps each registered name to its class; ``build_loss(spec, **kwargs)`` builds a
registered loss, a weighted sum of them or a plugin (:mod:`losses.spec`, :mod:`losses.plugins`).
To add a loss: write ``losses/<name>.py`` with a :class:`SegLoss` subclass, add one line to
``LOSSES`` below, and add its tests — or ship it in your own package (a plugin).
"""

from __future__ import annotations

from common.names import did_you_mean

from .abw import ABWLoss
from .base import EPS, MAP_CHANNELS, SegLoss
from .betti_matching import BettiMatchingLoss
from .boundary import BoundaryLoss, BoundaryTermLoss
from .cbdice import CbDiceLoss
from .clce import ClCELoss
from .cldice import ClDiceLoss
from .compose import CompositeLoss, LossSpecError, ResolvedTerm, build_terms, canonical_name, resolve
from .cross_entropy import BalancedCELoss, CELoss
from .focal import FocalLoss
from .hausdorff_dt import HausdorffDTLoss
from .lovasz import LovaszLoss
from .overlap import DiceLoss, JaccardLoss, TverskyLoss
from .rmi import RMILoss
from .skea_topo import SkeaTopoLoss
from .skeleton_recall import SkeletonRecallLoss
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
    "skeleton_recall": SkeletonRecallLoss,
    "clce": ClCELoss,
    "cbdice": CbDiceLoss,
    "betti_matching": BettiMatchingLoss,
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
    """Build a loss from its specification (:mod:`losses.spec`) with keyword hyper-parameters.

    ``name`` is a registered loss or alias (``build_loss("spw", lamb=10.0)``), a weighted sum
    (``"ce + 0.5*dice"``, ``"dice+focal[gamma=2.5]"``) or a plugin (``"my_pkg.losses:MyLoss"``,
    or the name of a ``segloss.losses`` entry point). ``kwargs`` apply to a single-term spec.

    Raises:
        ValueError: unknown name (lists the names and suggests the nearest), bad syntax or weight,
            a plugin that is not a loss or fails its load-time check.
        TypeError: a keyword the loss's constructor does not accept.
    """
    if name in LOSSES or name in ALIASES:
        return LOSSES[canonical_loss_name(name)](**kwargs)
    terms = _with_kwargs(resolve(name, LOSSES, ALIASES), kwargs, name)
    return build_terms(terms)


def _with_kwargs(terms: list[ResolvedTerm], kwargs: dict, spec: str) -> list[ResolvedTerm]:
    if not kwargs:
        return terms
    if len(terms) != 1:
        raise LossSpecError(f"loss {spec!r} has {len(terms)} terms: give keywords inside each term's [...]")
    t = terms[0]
    return [
        ResolvedTerm(
            t.name, t.weight, t.cls, t.factory, tuple(sorted({**dict(t.kwargs), **kwargs}.items())), t.source
        )
    ]


def loss_run_name(spec: str, kwargs: dict | None = None) -> str:
    """The canonical run name of a loss specification (+ typed keywords): one folder per loss."""
    return canonical_name(_with_kwargs(resolve(spec, LOSSES, ALIASES), dict(kwargs or {}), spec))


def loss_class(spec: str) -> type[SegLoss] | None:
    """The class of a single-term spec (for --loss-kwargs typing), None for sums and wrapped callables."""
    terms = resolve(spec, LOSSES, ALIASES)
    return terms[0].cls if len(terms) == 1 else None


__all__ = [
    "ALIASES",
    "EPS",
    "LOSSES",
    "MAP_CHANNELS",
    "CompositeLoss",
    "LossSpecError",
    "SegLoss",
    "build_loss",
    "canonical_loss_name",
    "loss_class",
    "loss_run_name",
]
