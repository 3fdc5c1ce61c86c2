"""``segloss-bench``: the benchmark grid's command line; the logic lives in the :mod:`grid` package.

    python scripts/run_benchmark.py --profile cpu --datasets drive isbi2012 --losses all --seeds 0 \\
        --folds 0 1 2 --raw-root ../shared/data --data-root data/processed --runs runs --results results/cpu

See ``grid/cli.py`` (flags), ``grid/plan.py`` (skip/resume plan), ``grid/backends.py`` (local, Ray,
Slurm) and docs/GRID.md.
"""

from __future__ import annotations

import sys

from grid.cli import main
from grid.plan import (  # noqa: F401  (re-exported: the runner's public names before grid/ existed)
    DEFAULT_RUN_SECONDS,
    LABEL_ONLY_SPW,
    Job,
    bench_arguments,
    estimate_seconds,
    expand_losses,
    format_duration,
    job_action,
    maps_needed,
    plan_jobs,
    prepare_commands,
    prepare_reasons,
    train_commands,
)

if __name__ == "__main__":
    sys.exit(main())
