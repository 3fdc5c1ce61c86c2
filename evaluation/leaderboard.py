"""The leaderboard: every run name against a reference, per data set and metric, as JSON/CSV/MD/TeX.

``leaderboard.json`` is validated against ``evaluation/schema/leaderboard.schema.json`` before it is
written; ``leaderboard.csv`` holds one row per data set × run name × metric with every number;
``leaderboard.md``/``.tex`` print them. The numbers are those of :mod:`evaluation.statistics`
(run-level paired t-test as the headline, MODERN_LOSSES.md / docs/BASELINES.md §7 for metrics).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import platform
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from common.run_folder import split_run_name

from . import statistics as st
from .naming import Metric, dataset_label, order_datasets, row_label
from .render import MISSING, Cell, fmt, latex_table, markdown_table

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "leaderboard.schema.json"
HEADLINE = "paired t-test on run-level differences (scipy.stats.ttest_rel), two-sided"
FAMILY = "one data set x one metric: every run name against the reference"
BOOTSTRAP = "two-level percentile bootstrap: (seed, fold) runs, then test images inside each run"
CELL_KEYS = (
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "rank",
    "rank_median",
    "rank_low",
    "rank_high",
    "delta",
    "delta_ci_low",
    "delta_ci_high",
    "p_ttest",
    "p_adjusted",
    "significant",
    "p_wilcoxon",
    "p_image_wilcoxon",
    "p_shapiro",
    "mde",
    "sd_seed",
    "sd_fold",
)


@dataclass
class Statistics:
    """Every frame the leaderboard and its figures print (see :func:`compute`)."""

    scores: pd.DataFrame
    comparisons: pd.DataFrame
    ranks: pd.DataFrame
    stability: pd.DataFrame
    overall: pd.DataFrame
    variance: pd.DataFrame
    friedman: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def compute(images: pd.DataFrame, metrics: list[Metric], settings: st.Settings) -> Statistics:
    """All statistics of a per-image table (raises :class:`statistics.StatisticsError` on a broken one)."""
    notes = st.check_images(images, metrics)
    names = set(images["run_name"])
    if settings.reference not in names:
        raise st.StatisticsError(f"reference {settings.reference!r} has no run (run names: {sorted(names)})")
    for dataset in sorted(set(images["dataset"])):
        if settings.reference not in set(images.loc[images["dataset"] == dataset, "run_name"]):
            notes.append(f"{dataset}: no {settings.reference} run, so no comparison on this data set")
    scores = st.run_scores(images, metrics)
    ranks = st.cell_ranks(scores, metrics)
    stability, overall_ci = st.rank_stability(images, metrics, settings)
    overall = st.leaderboard_order(ranks).merge(overall_ci, on="run_name", how="left")
    friedman = {m.key: st.friedman_nemenyi(scores, m, settings.alpha) for m in metrics}
    return Statistics(
        scores,
        st.comparison_frame(images, metrics, settings),
        ranks,
        stability,
        overall,
        st.variance_decomposition(scores, metrics),
        friedman,
        notes,
    )


def long_table(stats: Statistics) -> pd.DataFrame:
    """One row per data set × run name × metric with every number (leaderboard.csv)."""
    keys = ["dataset", "metric", "run_name"]
    table = stats.ranks.merge(stats.stability, on=keys, how="left")
    table = table.merge(stats.variance[[*keys, "sd_seed", "sd_fold"]], on=keys, how="left")
    comp = stats.comparisons.rename(
        columns={"ci_low": "delta_ci_low", "ci_high": "delta_ci_high", "n_runs": "n_paired_runs"}
    )
    if not comp.empty:
        drop = ["reference", "mean_other", "mean_reference", "n_images", "family_size"]
        table = table.merge(comp.drop(columns=drop), on=keys, how="left")
    table = table.rename(columns={"mean_low": "ci_low", "mean_high": "ci_high"})
    for column in CELL_KEYS:
        if column not in table:
            table[column] = np.nan
    position = dict(zip(stats.overall["run_name"], stats.overall["position"]))
    table["position"] = table["run_name"].map(position)
    return table.sort_values(["dataset", "metric", "position", "run_name"]).reset_index(drop=True)


def _clean(value):
    """JSON value: NaN/None → null, numpy scalars → Python."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return None if math.isnan(value) else value


def environment() -> dict[str, str | None]:
    """Versions of Python and the statistics libraries, and the platform (stamped into leaderboard.json)."""
    env: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("numpy", "scipy", "pandas", "statsmodels", "scikit-posthocs", "jsonschema", "matplotlib"):
        try:
            env[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            env[dist] = None
    return env


def build_leaderboard(
    stats: Statistics, metrics: list[Metric], settings: st.Settings, profiles: dict, run_paths: list[str]
) -> dict:
    """The leaderboard.json document (schema: evaluation/schema/leaderboard.schema.json).

    Args:
        profiles: ``{(dataset, run_name): profile}`` from the runs' config.json (None when absent).
        run_paths: the run folders read, as written in the manifest.
    """
    table = long_table(stats)
    statistics = {
        "headline_test": HEADLINE,
        "family": FAMILY,
        "bootstrap": BOOTSTRAP,
        "correction": settings.correction,
        "alpha": settings.alpha,
        "n_boot": settings.n_boot,
        "seed": settings.seed,
        "level": settings.level,
        "power": settings.power,
        "mixed_model": settings.mixed_model,
    }
    return {
        "schema_version": 1,
        "reference": settings.reference,
        "metrics": [
            {"key": m.key, "label": m.label, "higher_is_better": m.higher_is_better} for m in metrics
        ],
        "statistics": statistics,
        "environment": environment(),
        "runs": list(run_paths),
        "warnings": list(stats.warnings),
        "overall": [
            {
                k: (_clean(r[k]) if k != "run_name" else r[k])
                for k in (
                    "run_name",
                    "position",
                    "mean_rank",
                    "n_cells",
                    "rank_median",
                    "rank_low",
                    "rank_high",
                )
            }
            for r in stats.overall.to_dict("records")
        ],
        "entries": _entries(stats, table, metrics, profiles),
        "friedman": [_friedman_record(key, result) for key, result in stats.friedman.items() if result],
    }


def _entries(stats: Statistics, table: pd.DataFrame, metrics: list[Metric], profiles: dict) -> list[dict]:
    entries = []
    for dataset in order_datasets(table["dataset"].unique()):
        part = table[table["dataset"] == dataset]
        for name in part.sort_values(["position", "run_name"])["run_name"].unique():
            rows = part[part["run_name"] == name].set_index("metric")
            runs = stats.scores[(stats.scores["dataset"] == dataset) & (stats.scores["run_name"] == name)]
            loss, kwargs = split_run_name(name)
            cells = {m.key: {k: _clean(rows.loc[m.key, k]) for k in CELL_KEYS} for m in metrics}
            if "p_mixed" in rows:
                for m in metrics:
                    cells[m.key]["p_mixed"] = _clean(rows.loc[m.key, "p_mixed"])
            entries.append(
                {
                    "dataset": dataset,
                    "run_name": name,
                    "loss": loss,
                    "kwargs": kwargs,
                    "profile": profiles.get((dataset, name)),
                    "n_runs": len(runs),
                    "n_seeds": int(runs["seed"].nunique()),
                    "n_folds": int(runs["fold"].nunique()),
                    "mean_rank": _clean(rows["rank"].mean()),
                    "metrics": cells,
                }
            )
    return entries


def _friedman_record(metric: str, result: dict) -> dict:
    return {
        "metric": metric,
        # NaN (null) when every block ties every run name, e.g. a metric that is 0 for all runs
        "statistic": _clean(result["statistic"]),
        "p": _clean(result["p"]),
        "n_blocks": result["n_blocks"],
        "cd": _clean(result["cd"]),
        "mean_ranks": {k: float(v) for k, v in result["mean_ranks"].items()},
    }


def validate(board: dict) -> None:
    """Raise ``jsonschema.ValidationError`` when ``board`` breaks the shipped schema."""
    import jsonschema

    jsonschema.validate(board, json.loads(SCHEMA_PATH.read_text()))


# ---------------------------------------------------------------- text files


def fmt_p(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return MISSING
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def fmt_delta(delta, low, high, decimals: int) -> str:
    if delta is None or (isinstance(delta, float) and math.isnan(delta)):
        return MISSING
    return f"{delta:+.{decimals}f} [{low:+.{decimals}f}, {high:+.{decimals}f}]"


def cell_rows(table: pd.DataFrame, dataset: str, metric: Metric, reference: str) -> list[list]:
    """Rows of one data set × metric table: best mean bold (direction-aware rank 1)."""
    part = table[(table["dataset"] == dataset) & (table["metric"] == metric.key)]
    d = metric.decimals + 1
    rows = []
    for r in part.to_dict("records"):
        mean = f"{fmt(r['mean'], metric.decimals)} [{fmt(r['ci_low'], metric.decimals)}, {fmt(r['ci_high'], metric.decimals)}]"
        rank = f"{fmt(r['rank'], 1)} ({fmt(r['rank_low'], 0)}–{fmt(r['rank_high'], 0)})"
        star = "*" if r["significant"] in (True,) else ""
        is_ref = r["run_name"] == reference
        rows.append(
            [
                row_label(r["run_name"]),
                str(int(r["n_runs"])),
                Cell(mean, "bold" if r["rank"] == 1 else None),
                rank,
                "reference" if is_ref else fmt_delta(r["delta"], r["delta_ci_low"], r["delta_ci_high"], d),
                "" if is_ref else fmt_p(r["p_ttest"]),
                "" if is_ref else fmt_p(r["p_adjusted"]) + star,
                "" if is_ref else fmt_p(r["p_wilcoxon"]),
                "" if is_ref else fmt_p(r["p_image_wilcoxon"]),
                fmt(r["sd_seed"], d),
                fmt(r["sd_fold"], d),
            ]
        )
    return rows


CELL_HEADER = [
    "Loss",
    "runs",
    "mean [95% CI]",
    "rank (95% interval)",
    "Δ vs ref [95% CI]",
    "p t-test",
    "p adj.",
    "p Wilcoxon",
    "p image-level (secondary)",
    "sd seeds",
    "sd folds",
]


def _fmt_d(d: float) -> str:
    return "more than 10" if math.isinf(d) else f"{d:.2f}"


def power_lines(stats: Statistics, settings: st.Settings) -> list[str]:
    """What the design can detect: paired-t minimum detectable effect and the Wilcoxon floor."""
    comp = stats.comparisons
    if comp.empty:
        return ["No comparison: no data set has the reference and another run name."]
    lines = []
    for (n, k), _ in comp.groupby(["n_runs", "family_size"]):
        if n < 2:
            continue
        d = st.minimum_detectable_effect(int(n), settings.alpha, settings.power)
        d_family = st.minimum_detectable_effect(int(n), settings.alpha / max(int(k), 1), settings.power)
        lines.append(
            f"With n = {n} paired runs, the paired t-test detects with {settings.power:.0%} power a mean Δ "
            f"of {_fmt_d(d)} × sd(Δ) at α = {settings.alpha}, and {_fmt_d(d_family)} × sd(Δ) at the strictest "
            f"{settings.correction} threshold α/{k} of a family of {k}; the exact Wilcoxon p cannot go "
            f"below 2/2^{n} = {2 / 2**n:.2g}. Column `mde` of leaderboard.csv gives it in metric units."
        )
    return lines


def markdown_report(stats: Statistics, metrics: list[Metric], settings: st.Settings) -> str:
    table = long_table(stats)
    md = [
        f"# Leaderboard (reference: {row_label(settings.reference)})\n\n",
        f"Unit of analysis: the run (data set, loss, seed, fold), scored by its mean over test images. "
        f"Δ = loss − reference, signed so that **Δ > 0 is better** for every metric (VI: lower is better). "
        f"95% CI: {BOOTSTRAP}, {settings.n_boot} replicates, seed {settings.seed}. Headline test: {HEADLINE}; "
        f"p adj. = {settings.correction} within {FAMILY}; `*` = p adj. < {settings.alpha}. p Wilcoxon = exact "
        f"signed-rank test on the same run-level Δ (distribution-free check). p image-level = Wilcoxon over "
        f"pooled test images: secondary, it ignores training variance. Rank: by run-level mean, with its 95% "
        f"bootstrap interval. sd seeds / sd folds: spread of the run scores across seeds (same fold) and across "
        f"folds (same seed). Reading guide: docs/STATISTICS.md.\n\n",
    ]
    md += [line + "\n\n" for line in power_lines(stats, settings)]
    md.append("## Overall (mean rank over data sets and metrics)\n\n")
    rows = [
        [
            str(r["position"]),
            row_label(r["run_name"]),
            f"{r['mean_rank']:.2f}",
            str(r["n_cells"]),
            f"{fmt(r['rank_median'], 0)} ({fmt(r['rank_low'], 0)}–{fmt(r['rank_high'], 0)})",
        ]
        for r in stats.overall.to_dict("records")
    ]
    md.append(markdown_table(["#", "Loss", "mean rank", "cells", "bootstrap rank (95% interval)"], rows))
    for dataset in order_datasets(table["dataset"].unique()):
        for m in metrics:
            arrow = "higher is better" if m.higher_is_better else "lower is better"
            md.append(f"\n## {dataset_label(dataset)} — {m.label} ({arrow})\n\n")
            md.append(markdown_table(CELL_HEADER, cell_rows(table, dataset, m, settings.reference)))
    md.append("\n## Friedman test over (data set, seed, fold) blocks, Nemenyi post-hoc\n\n")
    for key, result in stats.friedman.items():
        if result is None:
            md.append(f"- {key}: not computed (needs 3 run names and 2 blocks that all of them completed)\n")
            continue
        md.append(
            f"- {key}: χ² = {result['statistic']:.2f}, p = {fmt_p(result['p'])}, {result['n_blocks']} "
            f"blocks, critical difference {result['cd']:.2f} ranks (figures/cd_{key}.png)\n"
        )
    if stats.warnings:
        md.append("\n## Warnings\n\n" + "".join(f"- {w}\n" for w in stats.warnings))
    return "".join(md)


def latex_report(stats: Statistics, metrics: list[Metric], settings: st.Settings) -> str:
    table = long_table(stats)
    parts = []
    for dataset in order_datasets(table["dataset"].unique()):
        for m in metrics:
            caption = (
                f"{dataset_label(dataset)}, {m.label}: mean [95% CI], rank, Δ vs {row_label(settings.reference)} "
                f"(positive = better) with 95% hierarchical-bootstrap CI, paired t-test p, "
                f"{settings.correction}-adjusted p (* < {settings.alpha})."
            )
            label = f"tab:leaderboard-{dataset}-{m.key}"
            parts.append(
                latex_table(CELL_HEADER, cell_rows(table, dataset, m, settings.reference), caption, label)
            )
    return "\n".join(parts)


def write_leaderboard(
    out: Path,
    stats: Statistics,
    board: dict,
    metrics: list[Metric],
    settings: st.Settings,
    stem: str = "leaderboard",
) -> None:
    """<stem>.json (validated first), <stem>.csv, <stem>.md, <stem>.tex."""
    validate(board)
    (out / f"{stem}.json").write_text(json.dumps(board, indent=1, allow_nan=False) + "\n")
    long_table(stats).to_csv(out / f"{stem}.csv", index=False, float_format="%.6g")
    (out / f"{stem}.md").write_text(markdown_report(stats, metrics, settings))
    (out / f"{stem}.tex").write_text(latex_report(stats, metrics, settings))


def against(
    stats: Statistics, images: pd.DataFrame, metrics: list[Metric], settings: st.Settings
) -> Statistics:
    """``stats`` with its comparisons redone against ``settings.reference``.

    Only the comparisons depend on the reference; ranks, bootstrap stability, Friedman/Nemenyi and the
    variance decomposition are shared, so a second leaderboard costs one comparison frame.
    """
    if settings.reference not in set(images["run_name"]):
        raise st.StatisticsError(f"reference {settings.reference!r} has no run")
    return replace(stats, comparisons=st.comparison_frame(images, metrics, settings))


def describe_comparison(
    images: pd.DataFrame, a: str, b: str, metrics: list[Metric], settings: st.Settings
) -> str:
    """``eval.py --compare A B``: every run-level Δ of A against B and the tests on them, per data set."""
    local = st.Settings(**{**settings.__dict__, "reference": b})
    scores = st.run_scores(images, metrics)
    lines = [f"{a} vs {b} (Δ = {a} − {b}, positive = {a} better)"]
    for dataset in order_datasets(images["dataset"].unique()):
        for m in metrics:
            row = st.compare_pair(images, scores, dataset, a, m, local)
            if row["n_runs"] == 0:
                continue
            runs = st.paired_runs(scores, dataset, a, b, m)
            per_run = ", ".join(f"s{r.seed}f{r.fold} {r.delta:+.4f}" for r in runs.itertuples())
            lines.append(
                f"{dataset} {m.label}: n = {row['n_runs']} runs, Δ = {row['delta']:+.4f} "
                f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}], t = {row['t']:.3g}, p = {fmt_p(row['p_ttest'])} "
                f"(unadjusted), Shapiro p = {fmt_p(row['p_shapiro'])}, Wilcoxon p = {fmt_p(row['p_wilcoxon'])}, "
                f"image-level p = {fmt_p(row['p_image_wilcoxon'])} over {row['n_images']} images, "
                f"MDE = {row['mde']:.4f}\n    per run: {per_run}"
            )
    if len(lines) == 1:
        lines.append("no (data set, seed, fold) run that both have")
    return "\n".join(lines)
