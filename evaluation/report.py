"""``evaluate``: runs/ → results/<name>/ (docs/ARCHITECTURE.md §7), written atomically.

Everything goes into a temporary sibling folder that is renamed to the output folder at the end,
so a crash never leaves a half-written results folder; an existing one is replaced only with
``overwrite=True``.
"""

from __future__ import annotations

import json
import time
import warnings as pywarnings
from dataclasses import dataclass, field
from pathlib import Path

from data.files import staging_dir

from . import cost, extended, figures, stats, tables
from .naming import PAPER_METRICS, order_datasets
from .runs import discover_runs

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


def evaluate(runs_root: Path, out: Path, *, datasets=None, losses=None, profile: str | None = None,
             data_root: Path = Path("data/processed"), bench_csv: Path | None = None, overwrite: bool = False,
             n_images: int = 3, command: str = "", n_boot: int = 10000) -> Evaluation:
    """Write every table and figure of results/<name>/ from the finished runs under ``runs_root``.

    Raises:
        EvaluationError: ``out`` exists without ``overwrite``, or no finished, valid run matches.
        FileNotFoundError: ``runs_root`` does not exist.
    """
    if out.exists() and not overwrite:
        raise EvaluationError(f"{out} already exists; pass --overwrite to replace it")
    found = discover_runs(runs_root, datasets, losses, profile)
    notes = [f"corrupt run skipped: {reason}" for _, reason in found.corrupt]
    notes += [f"unfinished run skipped (no timing.json/test_metrics.csv): {p}" for p in found.unfinished]
    if not found.runs:
        detail = "; ".join(notes) if notes else "no run folders"
        raise EvaluationError(f"no finished run under {runs_root} matches datasets={datasets} losses={losses} "
                              f"profile={profile} ({detail})")
    result = Evaluation(out=out, n_runs=len(found.runs))
    if bench_csv is None and (runs_root / BENCH_CSV_NAME).is_file():
        bench_csv = runs_root / BENCH_CSV_NAME

    # Written into a temporary folder beside `out` and renamed at the end (data.files.staging_dir).
    with staging_dir(out, overwrite=overwrite) as tmp:
        with pywarnings.catch_warnings(record=True) as caught:
            pywarnings.simplefilter("always")
            _write_all(tmp, found.runs, datasets, losses, data_root, bench_csv, n_images, n_boot, notes)
        notes += [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        (tmp / "warnings.txt").write_text("".join(f"{n}\n" for n in notes))
        manifest = {"command": command, "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                    "runs_root": str(runs_root), "data_root": str(data_root),
                    "bench_csv": str(bench_csv) if bench_csv else None, "profile": profile,
                    "runs": [str(r.path) for r in found.runs], "warnings": len(notes)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        result.files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
    result.warnings = notes
    return result


def _write_all(out: Path, runs, datasets, losses, data_root: Path, bench_csv, n_images: int, n_boot: int,
               notes: list[str]) -> None:
    per_run = tables.per_run_means(runs)
    names = order_datasets(datasets) if datasets else order_datasets(per_run["dataset"].unique())
    rows = tables.expected_rows(per_run, losses)
    notes += tables.missing_report(per_run, names, rows)
    summary = tables.summarize(per_run, [m.key for m in PAPER_METRICS])
    table1 = tables.table1_frame(summary, names, rows)
    tables.write_table1(out, table1, names, [n for n in notes if "missing" in n])
    tables.write_versus_paper(out, tables.versus_paper_frame(table1, tables.load_paper_table(PAPER_TABLE)))
    stats.write_significance(out, stats.significance_frame(runs, n_boot=n_boot))
    extended.write_extended(out, extended.extended_frame(per_run))
    bench = cost.load_bench_csv(bench_csv)
    cost.write_cost(out, cost.cost_frame(runs, bench, data_root), bench)

    fig_dir = out / "figures"
    fig_dir.mkdir()
    for dataset in names:
        figures.curves_figure(runs, dataset, fig_dir)
        figures.bars_figure(table1, dataset, fig_dir)
        try:
            made = figures.qualitative_figure(runs, table1, dataset, data_root, fig_dir, n_images)
        except FileNotFoundError as err:
            notes.append(f"{dataset}: qualitative figure skipped ({err}; --data-root {data_root})")
            continue
        if made is None:
            notes.append(f"{dataset}: qualitative figure skipped (no seed/fold with CE, SPW and baselines finished)")
