"""``evaluate``: runs/ → results/<name>/ (docs/ARCHITECTURE.md §7), written atomically.

Everything goes into a temporary sibling folder that is renamed to the output folder at the end,
so a crash never leaves a half-written results folder; an existing one is replaced only with
``overwrite=True``.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings as pywarnings
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.run_folder import SMALL_FILES, RunId
from data.files import staging_dir

from . import cost, extended, figures, observer, stat_figures, stats, tables
from . import leaderboard as lb
from .naming import PAPER_METRICS, SPW_RUN, order_datasets, order_rows
from .runs import discover_runs
from .statistics import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
PAPER_TABLE = REPO_ROOT / "configs" / "paper_table1.csv"
BENCH_CSV_NAME = "bench_losses.csv"  # default place of scripts/bench_losses.py --csv output: <runs>/


class EvaluationError(RuntimeError):
    """Nothing to evaluate or nowhere to write; the message says what and where."""


@dataclass
class Evaluation:
    out: Path
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    n_runs: int = 0


def evaluate(
    runs_root: Path,
    out: Path,
    *,
    datasets=None,
    losses=None,
    profile: str | None = None,
    data_root: Path = Path("data/processed"),
    bench_csv: Path | None = None,
    overwrite: bool = False,
    n_images: int = 3,
    command: str = "",
    n_boot: int = 2000,
    reference: str | None = None,
    correction: str = "holm",
    boot_seed: int = 0,
    mixed_model: bool = False,
    also_reference: tuple[str, ...] = (),
) -> Evaluation:
    """Write every table and figure of results/<name>/ from the finished runs under ``runs_root``.

    The statistics (leaderboard.*, forest/dots/cd/rank-stability figures) compare every run name with
    ``reference`` (default: ``spw`` when present, else the first run name in the paper's row order);
    each name in ``also_reference`` adds ``leaderboard_vs_<name>.*`` with the comparisons against it;
    the small files of every run read are copied to ``<out>/runs/`` so that ``--runs <out>/runs``
    regenerates the tables.

    Raises:
        EvaluationError: ``out`` exists without ``overwrite``, or no finished, valid run matches.
        StatisticsError: a runs table the statistics cannot use (missing metric, mismatched folds).
        FileNotFoundError: ``runs_root`` does not exist.
    """
    if out.exists() and not overwrite:
        raise EvaluationError(f"{out} already exists; pass --overwrite to replace it")
    found, notes = find_runs(runs_root, datasets, losses, profile)
    result = Evaluation(out=out, n_runs=len(found.runs))
    if bench_csv is None and (runs_root / BENCH_CSV_NAME).is_file():
        bench_csv = runs_root / BENCH_CSV_NAME
    settings = Settings(
        reference=default_reference(found.runs, reference),
        correction=correction,
        n_boot=n_boot,
        seed=boot_seed,
        mixed_model=mixed_model,
    )
    # Written into a temporary folder beside `out` and renamed at the end (data.files.staging_dir).
    with staging_dir(out, overwrite=overwrite) as tmp:
        with pywarnings.catch_warnings(record=True) as caught:
            pywarnings.simplefilter("always")
            others = [name for name in also_reference if name != settings.reference]
            _write_all(
                tmp, found.runs, datasets, losses, data_root, bench_csv, n_images, settings, notes, others
            )
        copy_run_files(tmp / "runs", found.runs, bench_csv)
        write_observer(tmp, runs_root, data_root, found.runs, notes)
        notes += [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        (tmp / "warnings.txt").write_text("".join(f"{n}\n" for n in notes))
        write_manifest(tmp, command, runs_root, data_root, bench_csv, profile, found.runs, len(notes))
        result.files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
    result.warnings = notes
    return result


def write_manifest(
    folder: Path, command: str, runs_root, data_root, bench_csv, profile, runs, n_warnings: int
) -> None:
    """``manifest.json``: the command, when, the inputs and every run folder read."""
    manifest = {
        "command": command,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "runs_root": str(runs_root),
        "data_root": str(data_root),
        "bench_csv": str(bench_csv) if bench_csv else None,
        "profile": profile,
        "runs": [str(r.path) for r in runs],
        "warnings": n_warnings,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def find_runs(runs_root: Path, datasets, losses, profile):
    """The finished, valid runs that match, and notes on the skipped ones; EvaluationError if none."""
    found = discover_runs(runs_root, datasets, losses, profile)
    notes = [f"corrupt run skipped: {reason}" for _, reason in found.corrupt]
    notes += [f"unfinished run skipped (no timing.json/test_metrics.csv): {p}" for p in found.unfinished]
    if not found.runs:
        detail = "; ".join(notes) if notes else "no run folders"
        raise EvaluationError(
            f"no finished run under {runs_root} matches datasets={datasets} losses={losses} "
            f"profile={profile} ({detail})"
        )
    return found, notes


def _write_all(
    out: Path,
    runs,
    datasets,
    losses,
    data_root: Path,
    bench_csv,
    n_images: int,
    settings: Settings,
    notes: list[str],
    others: list[str],
) -> None:
    per_run = tables.per_run_means(runs)
    names = order_datasets(datasets) if datasets else order_datasets(per_run["dataset"].unique())
    rows = tables.expected_rows(per_run, losses)
    notes += tables.missing_report(per_run, names, rows)
    summary = tables.summarize(per_run, [m.key for m in PAPER_METRICS])
    table1 = tables.table1_frame(summary, names, rows)
    tables.write_table1(out, table1, names, [n for n in notes if "missing" in n])
    tables.write_versus_paper(out, tables.versus_paper_frame(table1, tables.load_paper_table(PAPER_TABLE)))
    write_statistics(out, runs, settings, notes, others)
    extended.write_extended(out, extended.extended_frame(per_run))
    bench = cost.load_bench_csv(bench_csv)
    cost.write_cost(out, cost.cost_frame(runs, bench, data_root), bench)

    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    for dataset in names:
        figures.curves_figure(runs, dataset, fig_dir)
        figures.bars_figure(table1, dataset, fig_dir)
        try:
            made = figures.qualitative_figure(runs, table1, dataset, data_root, fig_dir, n_images)
        except FileNotFoundError as err:
            notes.append(f"{dataset}: qualitative figure skipped ({err}; --data-root {data_root})")
            continue
        if made is None:
            notes.append(
                f"{dataset}: qualitative figure skipped (no seed/fold with CE, SPW and baselines finished)"
            )


# ---------------------------------------------------------------- run-level statistics (issue 14)


def default_reference(runs, reference: str | None) -> str:
    """``reference`` if given, else ``spw`` when some run has it, else the first run name found."""
    if reference is not None:
        return reference
    names = {run.run_name for run in runs}
    return SPW_RUN if SPW_RUN in names else order_rows(names)[0]


def write_statistics(out: Path, runs, settings: Settings, notes: list[str], others=()) -> None:
    """leaderboard.{json,csv,md,tex}, leaderboard_vs_<name>.* for each name in ``others``, and
    figures/{forest_*,dots_*,cd_*,rank_stability}.png (the figures against ``settings.reference``)."""
    metrics = list(PAPER_METRICS)
    images = stats.per_image_frame(runs)
    computed = lb.compute(images, metrics, settings)
    notes += computed.warnings
    profiles = {(r.dataset, r.run_name): r.config.get("profile") for r in runs}
    paths = [str(r.path) for r in runs]
    lb.write_leaderboard(
        out, computed, lb.build_leaderboard(computed, metrics, settings, profiles, paths), metrics, settings
    )
    for name in others:  # only the comparisons depend on the reference (leaderboard.against)
        local = replace(settings, reference=name)
        other = lb.against(computed, images, metrics, local)
        board = lb.build_leaderboard(other, metrics, local, profiles, paths)
        lb.write_leaderboard(out, other, board, metrics, local, stem=f"leaderboard_vs_{name}")
    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    table = lb.long_table(computed)
    for dataset in order_datasets(images["dataset"].unique()):
        stat_figures.forest_plot(computed.comparisons, dataset, metrics, settings.reference, fig_dir)
        stat_figures.dot_interval_plot(table, dataset, metrics, fig_dir)
    for m in metrics:
        stat_figures.cd_diagram(computed.friedman[m.key], m, fig_dir)
    stat_figures.rank_stability_plot(computed.stability, metrics, fig_dir)


def write_observer(out: Path, runs_root: Path, data_root: Path, runs, notes: list[str]) -> None:
    """The human row (issue 17 §5): ``human_row.{csv,md}``, and the per-image inter-observer scores
    copied to ``<out>/runs/inter_observer.csv`` beside the run files they are compared with."""
    datasets = order_datasets({run.dataset for run in runs})
    scores, skipped = observer.observer_scores(runs_root, data_root, datasets)
    notes += skipped
    if scores.empty:
        return
    observer.write_human_row(out, observer.human_row_frame(stats.per_image_frame(runs), scores))
    scores.to_csv(out / "runs" / observer.OBSERVER_CSV, index=False)


def copy_run_files(dest: Path, runs, bench_csv: Path | None) -> None:
    """Copy each run's small files to ``dest/<dataset>/<run-name>/seed<S>/fold<k>/`` (and the bench CSV
    to ``dest/bench_losses.csv``), so ``eval.py --runs <out>/runs`` regenerates every table."""
    for run in runs:
        folder = RunId(run.dataset, run.run_name, run.seed, run.fold).folder(dest)
        folder.mkdir(parents=True, exist_ok=True)
        for name in SMALL_FILES:
            if (run.path / name).is_file():
                shutil.copy2(run.path / name, folder / name)
    if bench_csv is not None and Path(bench_csv).is_file():
        shutil.copy2(bench_csv, dest / BENCH_CSV_NAME)
