"""Figures of the statistics (matplotlib Agg, PNG files; never shown).

- ``forest_<dataset>.png``: Δ vs the reference with its 95% CI, one panel per metric, zero marked,
  significant comparisons (adjusted p < α) filled and starred.
- ``dots_<dataset>.png``: each loss's run-level mean and its 95% bootstrap CI (dot and interval; the
  axis does not start at zero, so small differences stay visible).
- ``cd_<metric>.png``: critical-difference diagram of the Friedman/Nemenyi mean ranks
  (``scikit_posthocs.critical_difference_diagram``, Demšar 2006).
- ``rank_stability.png``: each loss's bootstrap rank (median and 95% interval) per data set and metric.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .naming import Metric, dataset_label, order_datasets, row_label

matplotlib.use("Agg")  # batch job: files only, no display


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def metric_panels(part: pd.DataFrame, metrics: list[Metric]):
    """One panel per metric with a row per run name: ``(figure, names, [(axis, metric, rows, y), ...])``."""
    names = sorted(part["run_name"].unique())
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(3.2 * len(metrics), 0.35 * len(names) + 1.6), sharey=True
    )
    y = np.arange(len(names))
    panels = [
        (ax, m, part[part["metric"] == m.key].set_index("run_name").reindex(names), y)
        for ax, m in zip(np.atleast_1d(axes), metrics)
    ]
    return fig, names, panels


def forest_plot(
    comparisons: pd.DataFrame, dataset: str, metrics: list[Metric], reference: str, out: Path
) -> Path | None:
    """Δ (positive = better than the reference) and 95% CI per loss, one panel per metric."""
    part = comparisons[comparisons["dataset"] == dataset] if not comparisons.empty else comparisons
    if part.empty:
        return None
    fig, names, panels = metric_panels(part, metrics)
    for ax, m, rows, y in panels:
        err = np.vstack([rows["delta"] - rows["ci_low"], rows["ci_high"] - rows["delta"]])
        sig = rows["significant"].fillna(False).astype(bool).to_numpy()
        ax.errorbar(rows["delta"], y, xerr=err, fmt="none", ecolor="0.4", capsize=2)
        ax.scatter(rows["delta"][~sig], y[~sig], facecolors="white", edgecolors="k", zorder=3)
        ax.scatter(rows["delta"][sig], y[sig], color="k", marker="*", s=80, zorder=3, label="adj. p < α")
        ax.axvline(0.0, color="tab:red", linewidth=1)
        ax.set_title(f"{m.label} ({'↑' if m.higher_is_better else '↓'} better)")
        ax.set_xlabel(f"Δ vs {row_label(reference)} (> 0 = better)")
        ax.set_yticks(y, [row_label(n) for n in names])
    fig.suptitle(f"{dataset_label(dataset)}: run-level Δ, 95% hierarchical-bootstrap CI")
    return _save(fig, out / f"forest_{dataset}.png")


def dot_interval_plot(table: pd.DataFrame, dataset: str, metrics: list[Metric], out: Path) -> Path | None:
    """Mean and 95% CI of each loss per metric (``table`` = leaderboard.long_table)."""
    part = table[table["dataset"] == dataset]
    if part.empty:
        return None
    fig, names, panels = metric_panels(part, metrics)
    for ax, m, rows, y in panels:
        err = np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]]).clip(min=0)
        ax.errorbar(rows["mean"], y, xerr=err, fmt="o", color="k", capsize=2)
        ax.set_title(f"{m.label} ({'↑' if m.higher_is_better else '↓'} better)")
        ax.set_yticks(y, [row_label(n) for n in names])
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{dataset_label(dataset)}: run-level mean, 95% bootstrap CI")
    return _save(fig, out / f"dots_{dataset}.png")


def cd_diagram(result: dict | None, metric: Metric, out: Path) -> Path | None:
    """Critical-difference diagram of one metric's Friedman/Nemenyi result (None: nothing to draw)."""
    import scikit_posthocs as sp

    if result is None:
        return None
    ranks = result["mean_ranks"].rename(index=row_label)
    pvalues = result["pvalues"].rename(index=row_label, columns=row_label)
    fig, ax = plt.subplots(figsize=(8, 0.25 * len(ranks) + 1.5))
    drawn = sp.critical_difference_diagram(ranks, pvalues, ax=ax)
    for line in (artist for bar in drawn["crossbars"] for artist in bar):
        # scikit-posthocs draws each bar through its losses in set order, which changes with
        # PYTHONHASHSEED; sorted, the same ranks give the same pixels on every run
        x, y = line.get_data()
        line.set_data(sorted(x), y)
    ax.set_title(
        f"{metric.label}: mean rank over {result['n_blocks']} (data set, seed, fold) blocks, 1 = best\n"
        f"bars join losses Nemenyi cannot separate; Friedman p = {result['p']:.2g}, CD = {result['cd']:.2f}",
        fontsize=9,
    )
    return _save(fig, out / f"cd_{metric.key}.png")


def rank_stability_plot(stability: pd.DataFrame, metrics: list[Metric], out: Path) -> Path | None:
    """Bootstrap rank, median and 95% interval, of each loss per data set (rows) and metric (columns)."""
    if stability.empty:
        return None
    datasets = order_datasets(stability["dataset"].unique())
    names = sorted(stability["run_name"].unique())
    fig, axes = plt.subplots(
        len(datasets),
        len(metrics),
        figsize=(3.0 * len(metrics), (0.3 * len(names) + 1.2) * len(datasets)),
        squeeze=False,
        sharey=True,
    )
    for i, dataset in enumerate(datasets):
        for j, m in enumerate(metrics):
            ax = axes[i, j]
            rows = stability[(stability["dataset"] == dataset) & (stability["metric"] == m.key)]
            rows = rows.set_index("run_name").reindex(names)
            y = np.arange(len(names))
            err = np.vstack([rows["rank_median"] - rows["rank_low"], rows["rank_high"] - rows["rank_median"]])
            ax.errorbar(
                rows["rank_median"], y, xerr=np.nan_to_num(err).clip(min=0), fmt="s", color="k", capsize=2
            )
            ax.set_title(f"{dataset_label(dataset)} {m.label}", fontsize=9)
            ax.set_yticks(y, [row_label(n) for n in names])
            ax.set_xlabel("rank (1 = best)")
    fig.suptitle("Rank stability under the two-level bootstrap")
    return _save(fig, out / "rank_stability.png")
