"""Build any loss specification (:mod:`losses.spec`): registered losses, weighted sums, plugins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from common.names import did_you_mean

from .base import SegLoss
from .plugins import PluginError, entry_point_losses, import_object, loss_factory, validate_loss
from .spec import (
    LossSpecError,
    Term,
    canonical,
    coerce_to_default,
    constructor_parameters,
    parse_scalar,
    parse_spec,
)


@dataclass(frozen=True)
class ResolvedTerm:
    """A term with its name resolved, its class (None for wrapped callables) and typed keywords."""

    name: str
    weight: float
    cls: type | None
    factory: Any
    kwargs: tuple[tuple[str, Any], ...]
    source: str  # "built-in", "entry point" or "path"

    def build(self) -> SegLoss:
        return self.factory(**dict(self.kwargs))


class CompositeLoss(SegLoss):
    """``Σ wᵢ · lossᵢ(logits, target, maps)``: required maps and class weights are the union of the parts'."""

    def __init__(self, terms: list[tuple[float, SegLoss]]) -> None:
        super().__init__()
        self.weights = [float(w) for w, _ in terms]
        self.parts = nn.ModuleList([loss for _, loss in terms])
        self.required_maps = tuple(dict.fromkeys(m for loss in self.parts for m in loss.required_maps))
        self.needs_class_weight = any(loss.needs_class_weight for loss in self.parts)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        for loss in self.parts:
            loss.set_epoch(epoch)

    def compute(self, logits, target, maps) -> torch.Tensor:
        total = None
        for weight, loss in zip(self.weights, self.parts):
            value = weight * loss.compute(logits, target, maps)
            total = value if total is None else total + value
        return total


def _lookup(
    name: str, registry: Mapping[str, type], aliases: Mapping[str, str]
) -> tuple[str, type | None, Any, str]:
    if name in aliases or name in registry:
        name = aliases.get(name, name)
        return name, registry[name], registry[name], "built-in"
    if ":" in name:
        cls, factory = loss_factory(import_object(name), name)
        return name, cls, factory, "path"
    entry = entry_point_losses().get(name)
    if entry is not None:
        cls, factory = loss_factory(import_object(entry), name)
        return name, cls, factory, "entry point"
    options = [*registry, *aliases, *entry_point_losses()]
    raise LossSpecError(did_you_mean("loss", name, options) + " (or a plugin 'package.module:Class')")


def _typed(term: Term, name: str, cls: type | None) -> tuple[tuple[str, Any], ...]:
    if cls is None:
        return tuple((k, parse_scalar(v)) for k, v in term.kwargs)
    accepted = constructor_parameters(cls)
    out = []
    for key, text in term.kwargs:
        if key not in accepted:
            keys = ", ".join(accepted) if accepted else "none (it takes no hyper-parameters)"
            raise LossSpecError(f"loss {name!r} has no parameter {key!r}; accepted keys: {keys}")
        out.append((key, coerce_to_default(key, parse_scalar(text), accepted[key], name)))
    return tuple(sorted(out))


def resolve(spec: str, registry: Mapping[str, type], aliases: Mapping[str, str]) -> list[ResolvedTerm]:
    """Parse ``spec`` and resolve every term (names, classes, typed keywords)."""
    out = []
    for term in parse_spec(spec):
        name, cls, factory, source = _lookup(term.name, registry, aliases)
        out.append(ResolvedTerm(name, term.weight, cls, factory, _typed(term, name, cls), source))
    return out


def canonical_name(terms: list[ResolvedTerm]) -> str:
    """The run name of resolved terms (typed values, so ``gamma=2`` and ``gamma=2.0`` agree)."""
    return canonical([Term(t.name, t.weight, tuple((k, str(v)) for k, v in t.kwargs)) for t in terms])


def build_terms(terms: list[ResolvedTerm], validate_plugins: bool = True) -> SegLoss:
    """One loss for one term of weight 1, else a :class:`CompositeLoss`; plugins are checked."""
    built = []
    for term in terms:
        try:
            loss = term.build()
        except TypeError as err:
            raise LossSpecError(f"loss {term.name!r}: {err}") from err
        if term.source != "built-in" and validate_plugins:
            validate_loss(loss, term.name)
        built.append((term.weight, loss))
    if len(built) == 1 and built[0][0] == 1.0:
        return built[0][1]
    return CompositeLoss(built)


__all__ = [
    "CompositeLoss",
    "LossSpecError",
    "PluginError",
    "ResolvedTerm",
    "build_terms",
    "canonical_name",
    "resolve",
]
