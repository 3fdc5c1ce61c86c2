"""The metrics beyond Table 1: VI split/merge, MHD and each data set's challenge metrics.

Whatever numeric columns a data set's test_metrics.csv files hold beyond ``index``, ``id`` and the
paper's four (miou, mdice, vi, ari) are listed, aggregated like Table 1 (per-run mean over test
images, then mean ± population std over runs). Column names are the metrics package's own
(docs/ARCHITECTURE.md §5); no best/second marks, since directions differ per metric.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .naming import PAPER_METRICS, dataset_label, order_datasets, order_rows, row_label
from .render import fmt_mean_std, latex_table, markdown_table
from .tables import KEY

NOT_EXTENDED = {"n_images", *KEY, *(m.key for m in PAPER_METRICS)}


def extended_columns(per_run: pd.DataFrame, dataset: str) -> list[str]:
    """Metric columns of ``dataset`` beyond the paper's four that hold at least one value, in file order."""
    part = per_run[per_run["dataset"] == dataset]
    return [c for c in per_run.columns if c not in NOT_EXTENDED and part[c].notna().any()]


def extended_frame(per_run: pd.DataFrame) -> pd.DataFrame:
    """Long format: ``dataset, run_name, label, metric, mean, std, n_runs`` (std NaN for one run)."""
    rows = []
    for dataset in order_datasets(per_run["dataset"].unique()):
        part = per_run[per_run["dataset"] == dataset]
        for metric in extended_columns(per_run, dataset):
            for run_name in order_rows(part["run_name"].unique()):
                values = part.loc[part["run_name"] == run_name, metric].to_numpy(float)
                values = values[~np.isnan(values)]
                rows.append(
                    {
                        "dataset": dataset,
                        "run_name": run_name,
                        "label": row_label(run_name),
                        "metric": metric,
                        "mean": float(values.mean()) if values.size else np.nan,
                        "std": float(values.std()) if values.size > 1 else np.nan,
                        "n_runs": int(values.size),
                    }
                )
    return pd.DataFrame(rows, columns=["dataset", "run_name", "label", "metric", "mean", "std", "n_runs"])


def extended_grid(frame: pd.DataFrame, dataset: str, decimals: int = 4) -> tuple[list[str], list[list]]:
    part = frame[frame["dataset"] == dataset]
    metrics = list(dict.fromkeys(part["metric"]))
    header = ["Loss", *metrics]
    rows = []
    for run_name in dict.fromkeys(part["run_name"]):
        sub = part[part["run_name"] == run_name].set_index("metric")
        rows.append(
            [row_label(run_name)]
            + [fmt_mean_std(sub.loc[m, "mean"], sub.loc[m, "std"], decimals) for m in metrics]
        )
    return header, rows


def write_extended(out: Path, frame: pd.DataFrame) -> None:
    """``metrics_extended.{csv,md,tex}``, one table per data set."""
    frame.to_csv(out / "metrics_extended.csv", index=False, float_format="%.6g")
    note = (
        "Mean ± std (population) over runs of each per-run mean over test images; column names as "
        "metrics.compute_metrics writes them (see its docstrings for definitions and conventions)."
    )
    md, tex = [f"# Extended and challenge metrics\n\n{note}\n"], []
    for dataset in order_datasets(frame["dataset"].unique()):
        header, rows = extended_grid(frame, dataset)
        md.append(f"\n## {dataset_label(dataset)}\n\n" + markdown_table(header, rows))
        tex.append(latex_table(header, rows, f"{dataset_label(dataset)}: {note}", f"tab:extended-{dataset}"))
    (out / "metrics_extended.md").write_text("".join(md))
    (out / "metrics_extended.tex").write_text("\n".join(tex) if tex else "% no extended metrics\n")
