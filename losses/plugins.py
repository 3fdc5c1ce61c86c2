"""Losses from outside the repository: ``package.module:Attribute`` paths and ``segloss.losses`` entry points.

A plugin is a :class:`~losses.base.SegLoss` subclass (used as it is) or any callable
``(logits, target) -> scalar`` (a function, or a class whose instances are such callables),
wrapped into the contract by :class:`CallableLoss`. Every plugin is checked on load
(:func:`validate_loss`) on a tiny input before any training starts: it must return a finite
scalar tensor with a gradient that reaches the logits. A package makes a loss appear under a name
by declaring, in its ``pyproject.toml``::

    [project.entry-points."segloss.losses"]
    my_loss = "my_pkg.my_module:MyLoss"
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable, Mapping

import torch

from .base import SegLoss

ENTRY_POINT_GROUP = "segloss.losses"


class PluginError(ValueError):
    """A plugin loss that cannot be imported, is not a loss, or fails the load-time check."""


class CallableLoss(SegLoss):
    """Wrap a plain callable ``fn(logits, target) -> scalar`` into the loss contract."""

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], name: str = "") -> None:
        super().__init__()
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def compute(self, logits, target, maps):
        return self.fn(logits, target)


def import_object(path: str):
    """``"pkg.module:Attr"`` → the object; PluginError naming what failed."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"plugin loss {path!r}: expected 'package.module:Attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise PluginError(f"plugin loss {path!r}: cannot import module {module_name!r} ({err})") from err
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"plugin loss {path!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def entry_point_losses() -> dict[str, str]:
    """Installed ``segloss.losses`` entry points: name → ``"module:attr"``."""
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def loss_factory(obj, where: str) -> tuple[type | None, Callable[..., SegLoss]]:
    """``(SegLoss class or None, factory(**kwargs) -> SegLoss)`` for a plugin object."""
    if inspect.isclass(obj) and issubclass(obj, SegLoss):
        return obj, obj
    if inspect.isclass(obj):
        return None, lambda **kw: CallableLoss(_instance(obj, where, kw), name=where)
    if callable(obj):

        def factory(**kw):
            if kw:
                raise PluginError(
                    f"plugin loss {where!r} is a function; it takes no keyword arguments, got {kw}"
                )
            return CallableLoss(obj, name=where)

        return None, factory
    raise PluginError(
        f"plugin loss {where!r} is a {type(obj).__name__}, not a SegLoss subclass or a callable"
    )


def _instance(cls: type, where: str, kwargs: Mapping):
    try:
        inst = cls(**kwargs)
    except TypeError as err:
        raise PluginError(f"plugin loss {where!r}: cannot construct it with {dict(kwargs)} ({err})") from err
    if not callable(inst):
        raise PluginError(f"plugin loss {where!r}: its instances are not callable (logits, target) -> scalar")
    return inst


def validate_loss(loss: SegLoss, where: str) -> None:
    """Call ``loss`` on a tiny input; PluginError unless it is a finite scalar with a gradient."""
    from .maps import MAP_GENERATORS

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2, 16, 16, generator=gen, dtype=torch.float32, requires_grad=True)
    target = torch.zeros(2, 16, 16, dtype=torch.int64)
    target[:, 4:12, 6:9] = 1
    maps = {"class_weight": torch.tensor([[1.0, 3.0], [1.0, 3.0]])}
    for name in getattr(loss, "required_maps", ()):
        stack = [torch.from_numpy(MAP_GENERATORS[name](t.numpy())) for t in target]
        maps[name] = torch.stack([m if m.ndim == 3 else m[None] for m in stack]).float()
    try:
        value = loss(logits, target, maps)
    except Exception as err:  # a plugin may raise anything; say which plugin and why
        raise PluginError(
            f"plugin loss {where!r} failed on a 2x2x16x16 test input: {type(err).__name__}: {err}"
        ) from err
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise PluginError(
            f"plugin loss {where!r} must return a scalar tensor, got {type(value).__name__} "
            f"{tuple(value.shape) if isinstance(value, torch.Tensor) else ''}"
        )
    if not torch.isfinite(value).all():
        raise PluginError(
            f"plugin loss {where!r} returned a non-finite value ({float(value.detach())}) on a test input"
        )
    if not value.requires_grad:
        raise PluginError(f"plugin loss {where!r}: its value has no gradient with respect to the logits")
    (grad,) = torch.autograd.grad(value.reshape(()), logits, allow_unused=True)
    if grad is None or not torch.isfinite(grad).all():
        raise PluginError(f"plugin loss {where!r}: no finite gradient reaches the logits")
