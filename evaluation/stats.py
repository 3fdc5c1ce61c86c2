"""Paired significance of SPW against each other row (the paper reports none).

Pairs are the same test image seen by both losses: same data set, seed, fold and sample index.
Per metric: the mean difference SPW − other, a seeded percentile-bootstrap 95% CI of that mean,
and the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided, zero differences dropped:
scipy's default ``zero_method="wilcox"``). p-values are not corrected for multiple comparisons.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from .naming import PAPER_METRICS, SPW_RUN, Metric, dataset_label, order_datasets, order_rows, row_label
from .render import MISSING, fmt, markdown_table
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


def paired_values(images: pd.DataFrame, dataset: str, a: str, b: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``metric`` for runs ``a`` and ``b`` on the test images both have, aligned ``(n,)`` each.

    Pairs with a NaN on either side are dropped.
    """
    mine = images[images["dataset"] == dataset]
    left = mine.loc[mine["run_name"] == a, [*PAIR_KEY, metric]]
    right = mine.loc[mine["run_name"] == b, [*PAIR_KEY, metric]]
    both = left.merge(right, on=PAIR_KEY, suffixes=("_a", "_b")).sort_values(PAIR_KEY)
    both = both.dropna(subset=[f"{metric}_a", f"{metric}_b"])
    return both[f"{metric}_a"].to_numpy(float), both[f"{metric}_b"].to_numpy(float)


def wilcoxon_signed_rank(diffs: np.ndarray) -> tuple[float, float]:
    """(statistic, two-sided p) of ``scipy.stats.wilcoxon``; (NaN, 1.0) when every difference is 0
    (no evidence of a difference; scipy cannot rank an empty set) and (NaN, NaN) with no pairs."""
    if diffs.size == 0:
        return float("nan"), float("nan")
    if not np.any(diffs != 0):
        return float("nan"), 1.0
    result = sps.wilcoxon(diffs)
    return float(result.statistic), float(result.pvalue)


def bootstrap_mean_ci(diffs: np.ndarray, n_boot: int = 10000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap CI of ``mean(diffs)``: resample the pairs with replacement ``n_boot`` times.

    Seeded (``numpy.random.default_rng(seed)``), so the same input gives the same interval.
    """
    if diffs.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, diffs.size, size=(n_boot, diffs.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def compare(a_values: np.ndarray, b_values: np.ndarray, metric: Metric, n_boot: int, seed: int) -> dict:
    """One cell of the significance table: SPW (``a``) against another row (``b``) on one metric."""
    diffs = a_values - b_values
    stat, p = wilcoxon_signed_rank(diffs)
    low, high = bootstrap_mean_ci(diffs, n_boot=n_boot, seed=seed)
    mean_diff = float(diffs.mean()) if diffs.size else float("nan")
    better = mean_diff > 0 if metric.higher_is_better else mean_diff < 0
    return {"n_pairs": int(diffs.size), "mean_spw": float(a_values.mean()) if diffs.size else float("nan"),
            "mean_other": float(b_values.mean()) if diffs.size else float("nan"), "mean_diff": mean_diff,
            "ci_low": low, "ci_high": high, "wilcoxon_stat": stat, "p_value": p,
            "spw_better": bool(better) if diffs.size else False,
            "significant": bool(p < 0.05) if not np.isnan(p) else False}


def significance_frame(runs: list[Run], reference: str = SPW_RUN, n_boot: int = 10000, seed: int = 0) -> pd.DataFrame:
    """SPW against every other run name, per data set and Table 1 metric (long format)."""
    images = per_image_frame(runs)
    rows = []
    for dataset in order_datasets(images["dataset"].unique()):
        names = images.loc[images["dataset"] == dataset, "run_name"].unique()
        if reference not in names:
            continue
        for other in order_rows(n for n in names if n != reference):
            for m in PAPER_METRICS:
                a, b = paired_values(images, dataset, reference, other, m.key)
                row = {"dataset": dataset, "reference": reference, "other": other, "label": row_label(other),
                       "metric": m.key}
                row.update(compare(a, b, m, n_boot, seed))
                rows.append(row)
    return pd.DataFrame(rows)


def write_significance(out: Path, frame: pd.DataFrame) -> None:
    """``significance.csv`` (every number) and ``significance.md`` (one table per data set)."""
    frame.to_csv(out / "significance.csv", index=False, float_format="%.6g")
    md = ["# SPW against each other loss, paired over the same test images\n\n"
          "Δ = mean(SPW − other) over (seed, fold, image) pairs, [bootstrap 95% CI], Wilcoxon signed-rank p "
          "(two-sided, uncorrected). `*` = p < 0.05. VI: lower is better, so Δ < 0 favours SPW.\n"]
    if frame.empty:
        md.append("\nNo data set has SPW runs and another loss to compare with.\n")
    for dataset in order_datasets(frame["dataset"].unique()) if not frame.empty else []:
        part = frame[frame["dataset"] == dataset]
        header = ["SPW vs", "pairs"] + [m.label for m in PAPER_METRICS]
        rows = []
        for other in dict.fromkeys(part["other"]):
            cells: list = [row_label(other)]
            sub = part[part["other"] == other].set_index("metric")
            cells.append(str(int(sub["n_pairs"].iloc[0])))
            for m in PAPER_METRICS:
                r = sub.loc[m.key]
                if r["n_pairs"] == 0:
                    cells.append(MISSING)
                    continue
                star = "*" if r["significant"] else ""
                d = m.decimals + 1
                cells.append(f"{r['mean_diff']:+.{d}f} [{fmt(r['ci_low'], d)}, {fmt(r['ci_high'], d)}] "
                             f"p={r['p_value']:.3g}{star}")
            rows.append(cells)
        md.append(f"\n## {dataset_label(dataset)}\n\n" + markdown_table(header, rows))
    (out / "significance.md").write_text("".join(md))
