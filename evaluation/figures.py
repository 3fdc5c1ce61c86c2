"""Figures (matplotlib, Agg backend, PNG files; never shown).

- ``qualitative_<dataset>.png``: in the spirit of the paper's Figures 2–4, rows = test images,
  columns = image, ground truth, CE, the two best other baselines by Table 1 mIoU, SPW; errors coloured
  (false positive red, false negative blue, true class 1 white, true class 0 black). Every column shows
  the same images from the same seed and fold.
- ``curves_<dataset>.png``: validation mIoU per epoch (log.csv), mean over a loss's runs.
- ``table1_bars_<dataset>.png``: Table 1 as bars with ± std error bars.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from .naming import CE_RUN, PAPER_METRICS, SPW_RUN, dataset_label, order_rows, row_label
from .runs import Run

matplotlib.use("Agg")  # batch job: files only, no display (pyplot picks the backend at first use)

FP_COLOUR = (0.9, 0.15, 0.15)
FN_COLOUR = (0.15, 0.35, 0.95)


def error_overlay(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """RGB float ``(H,W,3)``: TP white, TN black, FP red, FN blue, for binary ``(H,W)`` pred and gt."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    pred, gt = pred.astype(bool), gt.astype(bool)
    rgb = np.zeros((*gt.shape, 3), dtype=np.float32)
    rgb[pred & gt] = 1.0
    rgb[pred & ~gt] = FP_COLOUR
    rgb[~pred & gt] = FN_COLOUR
    return rgb


def read_png(path: Path) -> np.ndarray:
    """uint8 array of a PNG; FileNotFoundError naming the path when absent."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    with Image.open(path) as im:
        return np.asarray(im)


def binary_prediction(png: np.ndarray) -> np.ndarray:
    """Prediction PNGs store round(255·p) (docs/ARCHITECTURE.md §6); class 1 where p > 0.5."""
    return png.astype(np.float64) / 255.0 > 0.5


def qualitative_columns(table1: pd.DataFrame, dataset: str, available: set[str]) -> list[str]:
    """CE, the two best other baselines by mean mIoU (SPW variants excluded), SPW; only those with runs."""
    part = table1[(table1["dataset"] == dataset) & table1["run_name"].isin(available)]
    others = part[~part["run_name"].isin([CE_RUN]) & ~part["run_name"].str.startswith(SPW_RUN)]
    best = (
        others.dropna(subset=["miou_mean"]).sort_values("miou_mean", ascending=False)["run_name"].tolist()[:2]
    )
    return [name for name in [CE_RUN, *best, SPW_RUN] if name in available]


def pick_images(runs: list[Run], n: int) -> list[int]:
    """``n`` evenly spaced sample indices among the test images every run has (not hand-picked)."""
    common = sorted(set.intersection(*(set(r.metrics["index"]) for r in runs)))
    if not common:
        return []
    positions = np.linspace(0, len(common) - 1, num=min(n, len(common))).round().astype(int)
    return [common[i] for i in dict.fromkeys(positions)]


def has_predictions(runs: dict[str, Run], columns: list[str]) -> bool:
    """Whether every column's run holds the prediction PNGs of its test images."""
    return all(runs[c].prediction_path(int(i)).is_file() for c in columns for i in runs[c].metrics["index"])


def qualitative_figure(
    runs: list[Run], table1: pd.DataFrame, dataset: str, data_root: Path, out: Path, n_images: int = 3
) -> Path | None:
    """Write ``qualitative_<dataset>.png``; None when no seed/fold has all columns' runs.

    Raises:
        FileNotFoundError: an image, mask or prediction PNG is missing (the message names it).
    """
    mine = [r for r in runs if r.dataset == dataset]
    columns = qualitative_columns(table1, dataset, {r.run_name for r in mine})
    by_split: dict[tuple[int, int], dict[str, Run]] = {}
    for r in mine:
        by_split.setdefault((r.seed, r.fold), {})[r.run_name] = r
    complete = sorted(k for k, v in by_split.items() if all(c in v for c in columns))
    if not columns or not complete:
        return None
    # the first split whose runs all kept their predictions (committed runs keep only small files)
    chosen = by_split[next((k for k in complete if has_predictions(by_split[k], columns)), complete[0])]
    indices = pick_images([chosen[c] for c in columns], n_images)
    root = data_root / dataset
    titles = ["image", "ground truth", *(row_label(c) for c in columns)]
    fig, axes = plt.subplots(
        len(indices), len(titles), figsize=(2.2 * len(titles), 2.2 * len(indices)), squeeze=False
    )
    for row, index in enumerate(indices):
        image = read_png(root / "images" / f"{index:03d}.png")
        gt = read_png(root / "masks" / f"{index:03d}.png") > 127
        panels = [image, gt]
        for c in columns:
            run = chosen[c]
            pred = binary_prediction(read_png(run.prediction_path(index)))
            panels.append(error_overlay(pred, gt))
        for col, panel in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[col], fontsize=9)
            if col >= 2:
                value = chosen[columns[col - 2]].metrics.set_index("index").loc[index, "miou"]
                ax.set_xlabel(f"mIoU {value:.3f}", fontsize=8)
        axes[row, 0].set_ylabel(f"#{index:03d}", fontsize=8)
    seed, fold = complete[0]
    fig.suptitle(
        f"{dataset_label(dataset)}, seed {seed} fold {fold}: false positives red, false negatives blue",
        fontsize=10,
    )
    fig.tight_layout()
    path = out / f"qualitative_{dataset}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curves_figure(runs: list[Run], dataset: str, out: Path) -> Path | None:
    """Write ``curves_<dataset>.png``: validation mIoU per epoch, mean over each loss's runs."""
    mine = [r for r in runs if r.dataset == dataset]
    if not mine:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run_name in order_rows({r.run_name for r in mine}):
        logs = pd.concat([r.log[["epoch", "val_miou"]] for r in mine if r.run_name == run_name])
        logs = logs.dropna(subset=["val_miou"])  # profiles with val_every > 1 leave gaps
        mean = logs.groupby("epoch")["val_miou"].mean()
        style = "-" if run_name.startswith(SPW_RUN) else "--"
        ax.plot(
            mean.index, mean.to_numpy(), style, label=row_label(run_name), linewidth=2 if style == "-" else 1
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation mIoU (mean over runs)")
    ax.set_title(f"{dataset_label(dataset)}: validation mIoU")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out / f"curves_{dataset}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bars_figure(table1: pd.DataFrame, dataset: str, out: Path) -> Path | None:
    """Write ``table1_bars_<dataset>.png``: one panel per Table 1 metric, mean ± std bars per loss."""
    part = table1[(table1["dataset"] == dataset) & (table1["n_runs"] > 0)]
    if part.empty:
        return None
    fig, axes = plt.subplots(1, len(PAPER_METRICS), figsize=(4 * len(PAPER_METRICS), 4), squeeze=False)
    labels = [row_label(n) for n in part["run_name"]]
    colours = ["tab:red" if n.startswith(SPW_RUN) else "tab:gray" for n in part["run_name"]]
    for ax, m in zip(axes[0], PAPER_METRICS):
        std = part[f"{m.key}_std"].fillna(0.0).to_numpy()
        ax.bar(range(len(part)), part[f"{m.key}_mean"].to_numpy(), yerr=std, color=colours, capsize=2)
        ax.set_xticks(range(len(part)))
        ax.set_xticklabels(labels, rotation=70, fontsize=7)
        ax.set_title(f"{m.label} ({'higher' if m.higher_is_better else 'lower'} is better)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{dataset_label(dataset)}: Table 1 (mean ± std over runs)", fontsize=10)
    fig.tight_layout()
    path = out / f"table1_bars_{dataset}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
