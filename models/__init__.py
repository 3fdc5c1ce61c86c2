"""Segmentation networks of the suite (PAPER_SPEC §5): the paper's U-Net."""

from .unet import SIZE_DIVISOR, UNet

__all__ = ["SIZE_DIVISOR", "UNet"]
