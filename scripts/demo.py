"""``make demo``: the whole pipeline on the embedded synthetic data sets, in a few minutes on 2 CPU cores.

Prepares synth-drive, synth-glas and synth-snemi3d (data/prepare.py writes the synthetic raw
replicas first), trains SPW and CE with the ``demo`` profile on the three folds of each, evaluates
into results/demo/ and prints where the tables and figures are. All of it is
scripts/run_benchmark.py with fixed arguments; a second ``make demo`` skips the finished runs.
``--all-losses`` trains every loss instead (about 3× longer on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from scripts import run_benchmark

REPO_ROOT = Path(__file__).resolve().parents[1]

DATASETS = ["synth-drive", "synth-glas", "synth-snemi3d"]
RUNS = Path("runs/demo")  # kept apart from real benchmark runs (run folders do not name the profile)
RESULTS = Path("results/demo")


def benchmark_args(all_losses: bool) -> list[str]:
    """The run_benchmark.py command line of the demo."""
    return [
        "--profile",
        "demo",
        "--datasets",
        *DATASETS,
        "--losses",
        *(["all"] if all_losses else ["ce", "spw"]),
        "--seeds",
        "0",
        "--folds",
        "0",
        "1",
        "2",
        "--raw-root",
        "data",
        "--data-root",
        "data/processed",
        "--runs",
        str(RUNS),
        "--results",
        str(RESULTS),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--all-losses", action="store_true", help="train all 13 Table 1 rows, not only CE and SPW"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    code = run_benchmark.main(benchmark_args(args.all_losses))
    elapsed = run_benchmark.format_duration(time.perf_counter() - start)
    if code != 0 or not (REPO_ROOT / RESULTS / "table1.md").is_file():
        print(
            f"\ndemo: failed after {elapsed} (see the messages above); rerun `make demo` to resume",
            file=sys.stderr,
        )
        return code or 1
    out = REPO_ROOT / RESULTS
    print(f"\ndemo finished in {elapsed}. Tables and figures are in {out}/:")
    for name in ("leaderboard.md", "table1.md", "table1_vs_paper.md", "metrics_extended.md", "table3.md"):
        print(f"  {out / name}")
    print(f"  {out / 'figures'}/ ({len(list((out / 'figures').glob('*.png')))} PNG files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
