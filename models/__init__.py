"""Segmentation networks of the suite (docs/METHOD.md §5): the paper's U-Net."""

from .unet import SIZE_DIVISOR, UNet

__all__ = ["SIZE_DIVISOR", "UNet"]
