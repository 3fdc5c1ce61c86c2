"""The tidy per-image table every statistic starts from (evaluation/statistics.py).

The former image-level significance table (SPW against each row, Wilcoxon over pooled test images,
uncorrected) is absorbed into the leaderboard, where the image-level test is a secondary column.
"""

from __future__ import annotations

import pandas as pd

from .runs import Run

PAIR_KEY = ["dataset", "seed", "fold", "index"]


def per_image_frame(runs: list[Run]) -> pd.DataFrame:
    """All test_metrics.csv rows stacked, with ``dataset, run_name, seed, fold`` columns added."""
    parts = []
    for run in runs:
        part = run.metrics.copy()
        part.insert(0, "fold", run.fold)
        part.insert(0, "seed", run.seed)
        part.insert(0, "run_name", run.run_name)
        part.insert(0, "dataset", run.dataset)
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*PAIR_KEY, "run_name"])
