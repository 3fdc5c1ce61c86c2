"""Segmentation metrics: the paper's four (+ MHD) exactly, plus each data set's challenge metrics.

Pure numpy / scipy / scikit-image; no torch. ``compute_metrics`` is the per-image entry point of
docs/ARCHITECTURE.md §5; ``METRIC_DESCRIPTIONS`` documents every column it returns.

Modules: ``paper`` (docs/METHOD.md §7), ``connectomics`` (VI, ARI, adapted Rand error on label images),
``pixel`` (DRIVE FOV metrics), ``objects`` (GlaS object metrics), ``topology`` (clDice, Betti, HD95),
``compute`` (the entry point), ``contingency`` and ``distance`` (shared building blocks).
"""

from __future__ import annotations

from .compute import FAMILIES, METRIC_DESCRIPTIONS, compute_metrics
from .connectomics import adapted_rand_error, adjusted_rand_index, variation_of_information
from .objects import object_dice, object_f1, object_hausdorff, object_metrics
from .paper import ari, mdice, mhd, miou, vi, vi_split_merge
from .pixel import fov_metrics, roc_auc
from .topology import betti_errors, betti_numbers, cldice, hd95

__all__ = [
    "FAMILIES",
    "METRIC_DESCRIPTIONS",
    "adapted_rand_error",
    "adjusted_rand_index",
    "ari",
    "betti_errors",
    "betti_numbers",
    "cldice",
    "compute_metrics",
    "fov_metrics",
    "hd95",
    "mdice",
    "mhd",
    "miou",
    "object_dice",
    "object_f1",
    "object_hausdorff",
    "object_metrics",
    "roc_auc",
    "variation_of_information",
    "vi",
    "vi_split_merge",
]
