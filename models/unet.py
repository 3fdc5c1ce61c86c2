"""The paper's U-Net (docs/METHOD.md §5).

Encoder: 5 stages of ``(3×3 conv with bias → BatchNorm → ReLU) × 2`` with
``width·(1, 2, 4, 8, 16)`` channels (64-128-256-512-1024 for the paper's width 64),
2×2 max-pool between stages. Decoder: per stage, nearest ×2 upsample → 3×3 conv →
BN → ReLU (halving the channels), concatenation with the encoder's skip, then the
same double conv block. Head: 1×1 conv to 2 logits.

Shapes: input ``(B, in_channels, H, W)`` with H and W divisible by 16 (four
poolings; the processed data sets pad to multiples of 32, docs/METHOD.md §4.3);
output logits ``(B, 2, H, W)``.
"""

from __future__ import annotations

import torch
from torch import nn

#: Channel multipliers of the 5 encoder stages (docs/METHOD.md §5: 64-128-256-512-1024 at width 64).
STAGE_MULTIPLIERS = (1, 2, 4, 8, 16)
#: Spatial sizes must be divisible by this (2 ** number of poolings).
SIZE_DIVISOR = 2 ** (len(STAGE_MULTIPLIERS) - 1)


def conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    """3×3 conv (with bias, padding 1) → BatchNorm → ReLU, as a list of layers."""
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=True),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """One U-Net stage: ``(conv3×3 → BN → ReLU) × 2``; keeps H and W."""
    return nn.Sequential(*conv_bn_relu(in_channels, out_channels), *conv_bn_relu(out_channels, out_channels))


class UpStage(nn.Module):
    """Decoder stage: nearest ×2 upsample → conv3×3/BN/ReLU (halve channels) → concat skip → double conv.

    ``x`` ``(B, C, h, w)`` and ``skip`` ``(B, C/2, 2h, 2w)`` → ``(B, C/2, 2h, 2w)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), *conv_bn_relu(in_channels, out_channels)
        )
        self.block = double_conv(2 * out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """The paper's 5-stage U-Net with 2 output logits (docs/METHOD.md §5).

    Args:
        in_channels: image channels (1 for SNEMI3D/ISBI2012, 3 for GlaS/DRIVE).
        width: channels of the first stage; 64 is the paper's network.
        num_classes: output logits (2 in the paper's loss contract).
    """

    def __init__(self, in_channels: int = 3, width: int = 64, num_classes: int = 2) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("width", width), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"UNet {name} must be a positive int, got {value!r}")
        channels = [width * m for m in STAGE_MULTIPLIERS]
        self.in_channels, self.width, self.num_classes = in_channels, width, num_classes
        self.encoder = nn.ModuleList(
            double_conv(c_in, c_out) for c_in, c_out in zip([in_channels, *channels[:-1]], channels)
        )
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.decoder = nn.ModuleList(
            UpStage(c_in, c_out) for c_in, c_out in zip(channels[:0:-1], channels[-2::-1])
        )
        self.head = nn.Conv2d(channels[0], num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` → logits ``(B, num_classes, H, W)``; H, W divisible by 16."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"UNet expects input (B,{self.in_channels},H,W), got shape {tuple(x.shape)}")
        if x.shape[2] % SIZE_DIVISOR or x.shape[3] % SIZE_DIVISOR:
            raise ValueError(
                f"UNet input height and width must be divisible by {SIZE_DIVISOR}, got {tuple(x.shape[2:])}"
            )
        skips = []
        for i, stage in enumerate(self.encoder):
            x = stage(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up in self.decoder:
            x = up(x, skips.pop())
        return self.head(x)
