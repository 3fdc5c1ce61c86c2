"""Turn finished runs into the paper's tables and figures: ``python eval.py [--runs runs] [--name NAME]``.

Reads ``runs/<dataset>/<run-name>/seed<S>/fold<k>/`` (docs/ARCHITECTURE.md §6) and writes
``results/<name>/`` (§7): leaderboard.* (run-level statistics against ``--reference``; one
leaderboard_vs_<name>.* per ``--also-reference``), table1.*,
table1_vs_paper.*, metrics_extended.*, table3.*, figures/*.png, warnings.txt, manifest.json, and the
runs' small files under runs/ (``--runs results/<name>/runs`` regenerates everything but the
qualitative figure). ``--compare A B`` also prints one comparison in detail. Missing runs print as "–" with a warning; corrupt run
folders are reported and skipped. Exit status 1 on an error (nothing written).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from common.names import did_you_mean
from common.run_folder import RunFolderError, is_finished, iter_run_folders, split_run_name
from data.registry import DATASETS
from evaluation import EvaluationError, evaluate
from evaluation.cost import BENCH_COLUMNS
from losses import ALIASES, LOSSES
from training.config import PROFILES

DEFAULT_DATA_ROOT = Path("data/processed")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def check_names(args: argparse.Namespace) -> None:
    """--datasets / --losses must be registered or present under --runs (did-you-mean otherwise)."""
    found = list(iter_run_folders(args.runs)) if args.runs.is_dir() else []
    datasets = {*DATASETS, *(r.dataset for r, _ in found)}
    for name in args.datasets or ():
        if name not in datasets:
            raise ValueError(did_you_mean("--datasets", name, sorted(datasets)))
    losses = {*LOSSES, *ALIASES, *(r.loss for r, _ in found)}
    for name in args.losses or ():
        try:
            loss, _ = split_run_name(name)
        except RunFolderError as err:
            raise ValueError(f"--losses: {err}") from None
        if loss not in losses:
            raise ValueError(did_you_mean("--losses", loss, sorted(losses)))


def check_files(args: argparse.Namespace) -> None:
    """Explicit --runs, --data-root, --bench-csv and --out must be usable before anything is written."""
    if not args.runs.is_dir():
        raise ValueError(f"--runs {args.runs}: not a folder (expected runs/<dataset>/<run-name>/...)")
    if args.data_root is not None and not args.data_root.is_dir():
        raise ValueError(f"--data-root {args.data_root}: not a folder of processed data sets")
    if args.bench_csv is not None:
        check_bench_csv(args.bench_csv)


def check_bench_csv(path: Path) -> None:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ValueError(f"--bench-csv {path}: not found") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"--bench-csv {path}: not a readable CSV ({err})") from None
    missing = [c for c in BENCH_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"--bench-csv {path}: missing columns {missing}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="runs folder written by train.py")
    parser.add_argument(
        "--datasets", nargs="+", default=None, help="data sets to evaluate (default: all found)"
    )
    parser.add_argument(
        "--losses",
        nargs="+",
        default=None,
        help="run names to evaluate, e.g. ce spw 'spw+use_prediction=False' (default: all found, "
        "the paper's 13 rows always listed)",
    )
    parser.add_argument(
        "--profile", default=None, choices=PROFILES, help="keep only runs whose config.json profile is this"
    )
    parser.add_argument(
        "--name",
        default=None,
        help="results name: output goes to results/<name> (default: the profile, or 'all')",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (overrides --name)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="processed data sets (images/masks for the qualitative figure, metadata for map times); "
        f"default {DEFAULT_DATA_ROOT}",
    )
    parser.add_argument(
        "--bench-csv",
        type=Path,
        default=None,
        help="scripts/bench_losses.py --csv output (default: <runs>/bench_losses.csv if present)",
    )
    parser.add_argument("--images", type=positive_int, default=3, help="test images per qualitative figure")
    add_statistics_arguments(parser)
    return parser


def seed_int(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32), got {text}")
    return value


def check_statistics(args: argparse.Namespace) -> None:
    """--reference and --compare must name runs that --runs holds finished (did-you-mean otherwise)."""
    wanted = [(f"--reference {args.reference}", args.reference)] if args.reference else []
    wanted += [(f"--also-reference {name}", name) for name in args.also_reference]
    wanted += [(f"--compare {' '.join(args.compare)}", name) for name in args.compare or ()]
    if not wanted:
        return
    names = sorted({r.run_name for r, folder in iter_run_folders(args.runs) if is_finished(folder)})
    for flag, name in wanted:
        if name not in names:
            raise ValueError(f"{flag}: " + did_you_mean("finished run name", name, names))


def add_statistics_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the run-level statistics (evaluation/statistics.py, docs/STATISTICS.md)."""
    parser.add_argument(
        "--reference",
        default=None,
        help="run name every other is compared with, e.g. ce, spw, 'spw+use_prediction=False' "
        "(default: spw when present, else the first run name found)",
    )
    parser.add_argument(
        "--also-reference",
        nargs="+",
        default=[],
        metavar="NAME",
        help="also write leaderboard_vs_<NAME>.{json,csv,md,tex} with every run name compared with NAME",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        default=None,
        help="also print the comparison A vs B in detail (Δ = A − B per run)",
    )
    parser.add_argument(
        "--correction",
        choices=["holm", "bh"],
        default="holm",
        help="multiple-comparison adjustment within each data set × metric",
    )
    parser.add_argument(
        "--n-boot", type=positive_int, default=2000, help="bootstrap replicates (CIs, rank stability)"
    )
    parser.add_argument("--boot-seed", type=seed_int, default=0, help="seed of the bootstrap")
    parser.add_argument(
        "--mixed-model",
        action="store_true",
        help="add the mixed-model p (statsmodels MixedLM, per-image values) beside the headline t-test",
    )


def compare_text(args: argparse.Namespace, a: str, b: str) -> str:
    """The detailed A vs B comparison of ``--compare`` on the runs ``--runs`` holds."""
    from evaluation.leaderboard import describe_comparison
    from evaluation.naming import PAPER_METRICS
    from evaluation.runs import discover_runs
    from evaluation.statistics import Settings
    from evaluation.stats import per_image_frame

    found = discover_runs(args.runs, args.datasets, [a, b], args.profile)
    images = per_image_frame(found.runs)
    names = set(images["run_name"]) if not images.empty else set()
    if not {a, b} <= names:
        raise ValueError(f"--compare {a} {b}: no finished run of {sorted({a, b} - names)} under {args.runs}")
    settings = Settings(reference=b, correction=args.correction, n_boot=args.n_boot, seed=args.boot_seed)
    return describe_comparison(images, a, b, list(PAPER_METRICS), settings)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_files(args)
        check_names(args)
        check_statistics(args)
    except ValueError as err:
        parser.error(str(err))
    out = args.out or Path("results") / (args.name or args.profile or "all")
    command = "python eval.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        result = evaluate(
            args.runs,
            out,
            datasets=args.datasets,
            losses=args.losses,
            profile=args.profile,
            data_root=args.data_root or DEFAULT_DATA_ROOT,
            bench_csv=args.bench_csv,
            overwrite=args.overwrite,
            n_images=args.images,
            command=command,
            n_boot=args.n_boot,
            reference=args.reference,
            correction=args.correction,
            boot_seed=args.boot_seed,
            mixed_model=args.mixed_model,
            also_reference=tuple(dict.fromkeys(args.also_reference)),
        )
        if args.compare:
            print(compare_text(args, *args.compare))
    except (EvaluationError, FileNotFoundError, ValueError) as err:
        print(f"eval.py: error: {err}", file=sys.stderr)
        return 1
    for note in result.warnings:
        print(f"warning: {note}", file=sys.stderr)
    print(f"evaluated {result.n_runs} runs; {len(result.files)} files written to {result.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
