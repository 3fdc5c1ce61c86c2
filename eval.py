"""Turn finished runs into the paper's tables and figures: ``python eval.py [--runs runs] [--name NAME]``.

Reads ``runs/<dataset>/<run-name>/seed<S>/fold<k>/`` (docs/ARCHITECTURE.md §6) and writes
``results/<name>/`` (§7): table1.*, table1_vs_paper.*, significance.*, metrics_extended.*, table3.*,
figures/*.png, warnings.txt, manifest.json. Missing runs print as "–" with a warning; corrupt run
folders are reported and skipped. Exit status 1 on an error (nothing written).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from evaluation import EvaluationError, evaluate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="runs folder written by train.py")
    parser.add_argument("--datasets", nargs="+", default=None, help="data sets to evaluate (default: all found)")
    parser.add_argument("--losses", nargs="+", default=None,
                        help="run names to evaluate, e.g. ce spw 'spw+use_prediction=False' (default: all found, "
                             "the paper's 13 rows always listed)")
    parser.add_argument("--profile", default=None, help="keep only runs whose config.json profile is this")
    parser.add_argument("--name", default=None, help="results name: output goes to results/<name> "
                        "(default: the profile, or 'all')")
    parser.add_argument("--out", type=Path, default=None, help="output folder (overrides --name)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--data-root", type=Path, default=Path("data/processed"),
                        help="processed data sets (images/masks for the qualitative figure, metadata for map times)")
    parser.add_argument("--bench-csv", type=Path, default=None,
                        help="scripts/bench_losses.py --csv output (default: <runs>/bench_losses.csv if present)")
    parser.add_argument("--images", type=int, default=3, help="test images per qualitative figure")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.images < 1:
        print(f"eval.py: error: --images must be >= 1, got {args.images}", file=sys.stderr)
        return 2
    out = args.out or Path("results") / (args.name or args.profile or "all")
    command = "python eval.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        result = evaluate(args.runs, out, datasets=args.datasets, losses=args.losses, profile=args.profile,
                          data_root=args.data_root, bench_csv=args.bench_csv, overwrite=args.overwrite,
                          n_images=args.images, command=command)
    except (EvaluationError, FileNotFoundError, ValueError) as err:
        print(f"eval.py: error: {err}", file=sys.stderr)
        return 1
    for note in result.warnings:
        print(f"warning: {note}", file=sys.stderr)
    print(f"evaluated {result.n_runs} runs; {len(result.files)} files written to {result.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
