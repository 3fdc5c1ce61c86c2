"""Table 1 in the paper's layout, and the same numbers beside the paper's published ones.

Aggregation (docs/METHOD.md §7): each metric is averaged over a run's test images (one run = one
data set × loss × seed × fold), then mean ± std over the runs of a data set × loss, i.e. over folds,
and over fold×seed runs when several seeds exist. The std is the population std (ddof = 0,
``numpy.std``'s default); the paper does not say which it used. NaN per-image values (undefined
metrics) are skipped in the per-run mean.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.run_folder import seed_fold

from .naming import (
    PAPER_METRICS,
    PAPER_ROWS,
    PAPER_TABLE_NAMES,
    Metric,
    dataset_label,
    order_datasets,
    order_rows,
    paper_counterpart,
    row_label,
)
from .render import MISSING, Cell, fmt_mean_std, latex_table, markdown_table
from .runs import Run

KEY = ["dataset", "run_name", "seed", "fold"]


def per_run_means(runs: list[Run]) -> pd.DataFrame:
    """One row per run: its key, ``n_images``, and the mean over test images of every metric column.

    Returns:
        DataFrame with columns ``dataset, run_name, seed, fold, n_images`` and one column per metric
        (every numeric column of test_metrics.csv except ``index``).
    """
    rows = []
    for run in runs:
        numeric = run.metrics.drop(columns=["index", "id"]).apply(pd.to_numeric, errors="coerce")
        row = dict(zip(KEY, run.key))
        row["n_images"] = len(run.metrics)
        row.update(numeric.mean(skipna=True).to_dict())
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else [*KEY, "n_images"])


def summarize(per_run: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Mean and population std over the runs of each data set × run name.

    Returns:
        DataFrame indexed by ``(dataset, run_name)`` with ``<m>_mean``, ``<m>_std`` for each metric
        in ``metrics`` (NaN where absent) and ``n_runs``, ``n_seeds``, ``n_folds``.
    """
    out = []
    for (dataset, run_name), group in per_run.groupby(["dataset", "run_name"], sort=False):
        row = {
            "dataset": dataset,
            "run_name": run_name,
            "n_runs": len(group),
            "n_seeds": group["seed"].nunique(),
            "n_folds": group["fold"].nunique(),
        }
        for m in metrics:
            values = group[m].to_numpy(dtype=float) if m in group else np.array([np.nan])
            values = values[~np.isnan(values)]
            row[f"{m}_mean"] = float(np.mean(values)) if values.size else np.nan
            # a single run has no spread: NaN prints as the mean alone
            row[f"{m}_std"] = float(np.std(values)) if values.size > 1 else np.nan
        out.append(row)
    frame = pd.DataFrame(out)
    return frame.set_index(["dataset", "run_name"]) if not frame.empty else frame


def rank_marks(means: dict[str, float], metric: Metric) -> dict[str, int]:
    """Rank 1 (best, bold) and 2 (second, underlined) among rows, on the printed (rounded) values.

    Ties on the printed value share the rank, so the printed table never bolds one of two equal
    numbers. Lower is better for VI, higher for the others.

    Returns:
        ``{run_name: 1 or 2}`` for the marked rows only.
    """
    shown = {name: round(v, metric.decimals) for name, v in means.items() if not np.isnan(v)}
    levels = sorted(set(shown.values()), reverse=metric.higher_is_better)[:2]
    return {name: levels.index(v) + 1 for name, v in shown.items() if v in levels}


def missing_report(per_run: pd.DataFrame, datasets: list[str], run_names: list[str]) -> list[str]:
    """Warnings naming every expected (data set, run name, seed, fold) that has no finished run.

    The expected seeds and folds of a data set are those that any of its runs has.
    """
    warnings = []
    for dataset in datasets:
        mine = per_run[per_run["dataset"] == dataset]
        if mine.empty:
            warnings.append(f"{dataset}: no finished runs at all")
            continue
        seeds, folds = sorted(mine["seed"].unique()), sorted(mine["fold"].unique())
        for run_name in run_names:
            have = set(
                zip(
                    mine.loc[mine["run_name"] == run_name, "seed"],
                    mine.loc[mine["run_name"] == run_name, "fold"],
                )
            )
            if not have:
                warnings.append(f"{dataset}/{run_name}: missing (no finished run)")
                continue
            lacking = [seed_fold(s, f) for s in seeds for f in folds if (s, f) not in have]
            if lacking:
                warnings.append(f"{dataset}/{run_name}: missing {', '.join(lacking)}")
    return warnings


def table1_frame(summary: pd.DataFrame, datasets: list[str], run_names: list[str]) -> pd.DataFrame:
    """Table 1 as data: one row per data set × run name (missing ones included, NaN), with ranks."""
    rows = []
    for dataset in datasets:
        for run_name in run_names:
            key = (dataset, run_name)
            have = not summary.empty and key in summary.index
            row = {
                "dataset": dataset,
                "run_name": run_name,
                "label": row_label(run_name),
                "n_runs": int(summary.loc[key, "n_runs"]) if have else 0,
                "n_seeds": int(summary.loc[key, "n_seeds"]) if have else 0,
                "n_folds": int(summary.loc[key, "n_folds"]) if have else 0,
            }
            for m in PAPER_METRICS:
                row[f"{m.key}_mean"] = summary.loc[key, f"{m.key}_mean"] if have else np.nan
                row[f"{m.key}_std"] = summary.loc[key, f"{m.key}_std"] if have else np.nan
            rows.append(row)
    frame = pd.DataFrame(rows)
    for m in PAPER_METRICS:
        frame[f"{m.key}_rank"] = pd.array([pd.NA] * len(frame), dtype="Int64")
        for dataset in datasets:
            part = frame[frame["dataset"] == dataset]
            marks = rank_marks(dict(zip(part["run_name"], part[f"{m.key}_mean"])), m)
            for idx, name in zip(part.index, part["run_name"]):
                if name in marks:
                    frame.loc[idx, f"{m.key}_rank"] = marks[name]
    return frame


def _emphasis(rank) -> str | None:
    return {1: "bold", 2: "underline"}.get(None if pd.isna(rank) else int(rank))


def table1_grid(frame: pd.DataFrame, datasets: list[str]) -> tuple[list[str], list[list]]:
    """The paper's layout: rows = losses, columns = (data set, metric) pairs."""
    header = ["Loss"] + [f"{dataset_label(d)} {m.label}" for d in datasets for m in PAPER_METRICS]
    rows = []
    for run_name in dict.fromkeys(frame["run_name"]):
        row: list = [row_label(run_name)]
        for dataset in datasets:
            rec = frame[(frame["dataset"] == dataset) & (frame["run_name"] == run_name)].iloc[0]
            for m in PAPER_METRICS:
                text = fmt_mean_std(rec[f"{m.key}_mean"], rec[f"{m.key}_std"], m.decimals)
                row.append(Cell(text, _emphasis(rec[f"{m.key}_rank"])))
        rows.append(row)
    return header, rows


def runs_per_cell(runs: pd.DataFrame) -> str:
    """``"9 (3 seeds × 3 folds)"``-style counts of the cells' runs, one entry per distinct count."""
    parts = []
    for n_runs, n_seeds in sorted(set(zip(runs["n_runs"], runs["n_seeds"]))):
        folds = n_runs / n_seeds if n_seeds else 0
        shape = (
            f"{n_seeds} seed{'s' if n_seeds != 1 else ''} × {folds:g} folds"
            if float(folds).is_integer()
            else "unbalanced"
        )
        parts.append(f"{n_runs} ({shape})")
    return ", ".join(parts)


def table1_caption(frame: pd.DataFrame) -> str:
    runs = frame.loc[frame["n_runs"] > 0]
    seeds = sorted(set(runs["n_seeds"])) if not runs.empty else [0]
    spread = "over folds" if seeds == [1] else "over all fold×seed runs (seeds pooled)"
    return (
        f"Table 1: per-run mean over test images, then mean ± std (population, ddof=0) {spread}; "
        f"runs per cell: {runs_per_cell(runs)}. "
        f"Best in bold, second underlined (VI: lower is better; others: higher). {MISSING} = no finished run."
    )


def load_paper_table(path: Path) -> pd.DataFrame:
    """configs/paper_table1.csv (docs/METHOD.md §8) indexed by (dataset, loss).

    Raises:
        ValueError: the file lacks a ``<metric>_mean``/``_std`` column of Table 1.
    """
    frame = pd.read_csv(path)
    need = ["dataset", "loss"] + [f"{m.key}_{s}" for m in PAPER_METRICS for s in ("mean", "std")]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    return frame.set_index(["dataset", "loss"])


def versus_paper_frame(table1: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Long table: our mean/std beside the paper's and ``diff = ours − paper`` per data set × loss × metric.

    Only data sets with a published counterpart (the data-set record's paper_counterpart) appear. The label-only
    SPW row is compared with the paper's SPW row, since which variant made the paper's table is
    unknown (docs/METHOD.md §2).
    """
    rows = []
    for rec in table1.itertuples(index=False):
        counterpart = paper_counterpart(rec.dataset)
        paper_loss = (
            "spw" if rec.run_name.startswith("spw") else PAPER_TABLE_NAMES.get(rec.run_name, rec.run_name)
        )
        if counterpart is None or (counterpart, paper_loss) not in paper.index:
            continue
        published = paper.loc[(counterpart, paper_loss)]
        for m in PAPER_METRICS:
            ours = getattr(rec, f"{m.key}_mean")
            rows.append(
                {
                    "dataset": rec.dataset,
                    "paper_dataset": counterpart,
                    "run_name": rec.run_name,
                    "label": rec.label,
                    "metric": m.key,
                    "ours_mean": ours,
                    "ours_std": getattr(rec, f"{m.key}_std"),
                    "paper_mean": published[f"{m.key}_mean"],
                    "paper_std": published[f"{m.key}_std"],
                    "diff": ours - published[f"{m.key}_mean"],
                }
            )
    return pd.DataFrame(rows)


def versus_paper_grid(frame: pd.DataFrame, dataset: str) -> tuple[list[str], list[list]]:
    """One data set: rows = losses, columns = ours / paper / Δ per metric."""
    part = frame[frame["dataset"] == dataset]
    header = ["Loss"] + [f"{m.label} {w}" for m in PAPER_METRICS for w in ("ours", "paper", "Δ")]
    rows = []
    for run_name in dict.fromkeys(part["run_name"]):
        row: list = [row_label(run_name)]
        for m in PAPER_METRICS:
            rec = part[(part["run_name"] == run_name) & (part["metric"] == m.key)].iloc[0]
            diff = rec["diff"]
            row += [
                fmt_mean_std(rec["ours_mean"], rec["ours_std"], m.decimals),
                fmt_mean_std(rec["paper_mean"], rec["paper_std"], m.decimals),
                MISSING if np.isnan(diff) else f"{diff:+.{m.decimals}f}",
            ]
        rows.append(row)
    return header, rows


def write_table1(out: Path, frame: pd.DataFrame, datasets: list[str], notes: list[str]) -> None:
    """``table1.csv`` (data, with ranks), ``table1.md`` and ``table1.tex`` (the paper's layout)."""
    frame.to_csv(out / "table1.csv", index=False, float_format="%.6g")
    header, rows = table1_grid(frame, datasets)
    caption = table1_caption(frame)
    md = f"# Table 1\n\n{caption}\n\n" + markdown_table(header, rows)
    if notes:
        md += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    (out / "table1.md").write_text(md)
    (out / "table1.tex").write_text(latex_table(header, rows, caption, "tab:table1"))


def write_versus_paper(out: Path, frame: pd.DataFrame) -> None:
    """``table1_vs_paper.{csv,md,tex}``: ours, the paper's published value and the difference."""
    frame.to_csv(out / "table1_vs_paper.csv", index=False, float_format="%.6g")
    note = (
        "Ours beside the paper's Table 1 (docs/METHOD.md §8); Δ = ours − paper (means). ISBI 2012 is compared "
        "with the paper's SNEMI3D, which it stands in for; SPW (label only) is compared with the paper's SPW "
        "row (which variant made the paper's table is unknown)."
    )
    md, tex = [f"# Table 1 beside the paper\n\n{note}\n"], []
    datasets = order_datasets(frame["dataset"]) if not frame.empty else []
    if not datasets:
        md.append(
            "\nNo evaluated data set has a published counterpart (the paper has SNEMI3D, GlaS, DRIVE).\n"
        )
    for dataset in datasets:
        paper_name = dataset_label(frame.loc[frame["dataset"] == dataset, "paper_dataset"].iloc[0])
        title = f"{dataset_label(dataset)} (paper: {paper_name})"
        header, rows = versus_paper_grid(frame, dataset)
        md.append(f"\n## {title}\n\n" + markdown_table(header, rows))
        tex.append(latex_table(header, rows, f"{title}. {note}", f"tab:vs-paper-{dataset}"))
    (out / "table1_vs_paper.md").write_text("".join(md))
    (out / "table1_vs_paper.tex").write_text(
        "\n".join(tex) if tex else "% no data set with a paper counterpart\n"
    )


def expected_rows(per_run: pd.DataFrame, selected: list[str] | None) -> list[str]:
    """The rows Table 1 lists: the selected run names, or the paper's 13 rows plus any other run found."""
    if selected:
        return order_rows(selected)
    return order_rows([name for name, _ in PAPER_ROWS] + list(per_run["run_name"].unique()))
