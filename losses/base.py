"""The one contract every loss of the suite follows.

Every loss is called as ``loss(logits, target, maps=None) -> scalar tensor`` with

- ``logits``: float tensor ``(B, 2, H, W)``; channel 1 is class 1 and
  ``p = softmax(logits, dim=1)[:, 1]`` is its probability;
- ``target``: int64 tensor ``(B, H, W)`` with values in {0, 1};
- ``maps``: a dict of per-sample extras delivered by the data layer:
  ``"class_weight"`` float ``(B, 2)`` holding (c0, c1) of each image
  (docs/METHOD.md §4.4) and per-pixel maps by name: ``"wce"`` ``(B,1,H,W)``,
  ``"abw"`` ``(B,2,H,W)``, ``"skea_topo"`` ``(B,4,H,W)``.

A loss class declares the maps it reads in ``required_maps`` (the trainer asks
the data set for exactly those) and whether it reads the per-image class
weights (``needs_class_weight``). ``set_epoch`` is a no-op unless a loss has a
schedule (Skea-topo's BoRT term).

Subclasses implement :meth:`SegLoss.compute`; validation happens once, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import nn

from .maps import MAP_CHANNELS  # channel count of each named map (B, C, H, W)

#: ε inside ``log(p + ε)`` in the paper-time code (docs/METHOD.md §0).
EPS = 1e-7


def _describe(t: torch.Tensor) -> str:
    return f"shape {tuple(t.shape)} and dtype {t.dtype}"


def check_logits_target(logits: torch.Tensor, target: torch.Tensor) -> None:
    """Validate the logits/target pair of the loss contract; raise with both shapes."""
    if not isinstance(logits, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError(
            f"logits and target must be torch tensors, got {type(logits).__name__} and {type(target).__name__}"
        )
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a float tensor (B,2,H,W), got {_describe(logits)}")
    if logits.ndim != 4 or logits.shape[1] != 2:
        raise ValueError(
            f"logits must have shape (B,2,H,W) (two-class logits), got {_describe(logits)}; "
            f"target has {_describe(target)}"
        )
    if target.dtype != torch.int64:
        raise TypeError(f"target must be an int64 tensor (B,H,W) in {{0,1}}, got {_describe(target)}")
    if target.ndim != 3 or target.shape[0] != logits.shape[0] or target.shape[1:] != logits.shape[2:]:
        raise ValueError(
            f"target must have shape (B,H,W) = {(logits.shape[0], *logits.shape[2:])} to match logits "
            f"{_describe(logits)}, got {_describe(target)}"
        )
    if target.device != logits.device:
        raise ValueError(f"target is on {target.device} but logits are on {logits.device}")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) > 1):
        raise ValueError(
            f"target values must be in {{0,1}}, got range [{int(target.min())}, {int(target.max())}]"
        )


def check_class_weight(cw: torch.Tensor, logits: torch.Tensor) -> None:
    """``cw`` must be a float ``(B, 2)`` tensor of finite, positive weights."""
    batch = logits.shape[0]
    if not isinstance(cw, torch.Tensor) or not cw.is_floating_point():
        raise TypeError(f'maps["class_weight"] must be a float tensor (B,2), got {type(cw).__name__}')
    if cw.shape != (batch, 2):
        raise ValueError(
            f'maps["class_weight"] must have shape (B,2) = ({batch}, 2) to match logits '
            f"{_describe(logits)}, got {_describe(cw)}"
        )
    if not torch.isfinite(cw).all() or (cw <= 0).any():
        raise ValueError(f'maps["class_weight"] must be finite and positive, got {cw.tolist()}')


def check_map(name: str, value: torch.Tensor, logits: torch.Tensor) -> None:
    """A per-pixel map must be float ``(B, C, H, W)`` with the channel count of :data:`MAP_CHANNELS`."""
    b, _, h, w = logits.shape
    expected = (b, MAP_CHANNELS[name], h, w)
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise TypeError(f'maps["{name}"] must be a float tensor {expected}, got {type(value).__name__}')
    if tuple(value.shape) != expected:
        raise ValueError(
            f'maps["{name}"] must have shape (B,{MAP_CHANNELS[name]},H,W) = {expected} to match logits '
            f"{_describe(logits)}, got {_describe(value)}"
        )


class SegLoss(nn.Module):
    """Base class of every loss: validates the contract, then calls :meth:`compute`.

    Class attributes a subclass sets:
        required_maps: names of the per-pixel maps it reads (keys of :data:`MAP_CHANNELS`).
        needs_class_weight: whether it reads ``maps["class_weight"]``.
    """

    required_maps: ClassVar[tuple[str, ...]] = ()
    needs_class_weight: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Tell the loss the 0-based training epoch (only scheduled losses use it)."""
        if int(epoch) < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def forward(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        maps: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        maps = {} if maps is None else maps
        check_logits_target(logits, target)
        if self.needs_class_weight:
            if "class_weight" not in maps:
                raise KeyError(
                    f'{type(self).__name__} needs maps["class_weight"] (B,2) with the per-image class '
                    f"weights (c0, c1); got maps with keys {sorted(maps)}"
                )
            check_class_weight(maps["class_weight"], logits)
        for name in self.required_maps:
            if name not in maps:
                raise KeyError(
                    f'{type(self).__name__} needs the precomputed map maps["{name}"] '
                    f"(B,{MAP_CHANNELS[name]},H,W); got maps with keys {sorted(maps)}. "
                    f"Generate it with: python data/prepare.py --dataset <name> --maps {name}"
                )
            check_map(name, maps[name], logits)
        return self.compute(logits, target, maps)

    def compute(
        self, logits: torch.Tensor, target: torch.Tensor, maps: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def class_one_probability(logits: torch.Tensor) -> torch.Tensor:
    """``p = softmax(logits, dim=1)[:, 1]``, shape ``(B, H, W)``."""
    return torch.softmax(logits, dim=1)[:, 1]


def per_image_class_weights(cw: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``(B, 2)`` class weights into c0, c1 shaped ``(B, 1, 1)`` for ``(B, H, W)`` maps.

    Each image uses its own weights (docs/METHOD.md §4.4). The paper-time code broadcast
    them so that a batch used their mean; with equal weights in a batch both agree.
    """
    cw = cw.to(dtype)
    return cw[:, 0].view(-1, 1, 1), cw[:, 1].view(-1, 1, 1)
