"""Scheduler efficiency of the grid's backends (issue 15 §7).

    python scripts/bench_grid.py --runs 12 --seconds 5 --workers 2 --out results/bench/grid.md

Runs a grid of equal short runs (a child process that sleeps ``--seconds``, launched through the
same :func:`grid.run_one.run_one` as a training run) on the ``local`` pool and on embedded Ray, and
reports efficiency = (sum of run times / workers) / wall time, plus Ray's start-up time and the
memory (RSS) of Ray's processes once started. Sleeping runs measure the scheduler alone, not
the machine's cores.

    python scripts/bench_grid.py --from-log runs/grid.log

reports the same efficiency for the real grids that log recorded (one row per invocation on a local
pool; run times as printed, to the second).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from grid import backends
from grid.progress import log_report
from grid.run_one import RunResult, RunSpec


def sleep_specs(n: int, seconds: float, folder: Path) -> list[RunSpec]:
    cmd = (sys.executable, "-c", f"import time; time.sleep({seconds})")
    return [
        RunSpec(f"sleep{i}", cmd, str(folder), (), str(folder / f"sleep{i}.log"), retries=0) for i in range(n)
    ]


def efficiency(results: list[RunResult], workers: int, wall: float) -> float:
    """(sum of run times / workers) / wall time: 1.0 = the workers never waited on the scheduler."""
    return sum(r.seconds for r in results) / workers / wall


def rss_of_processes_mentioning(text: str) -> int:
    """Total resident memory (bytes) of the processes whose command line contains ``text`` (Linux)."""
    total = 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                pages = int((entry / "statm").read_text().split()[1])
                total += pages * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total


def bench_local(specs: list[RunSpec], workers: int) -> tuple[float, float]:
    start = time.perf_counter()
    results = backends.run_local(specs, workers, on_done=lambda r: None)
    wall = time.perf_counter() - start
    return efficiency(results, workers, wall), wall


def bench_ray(specs: list[RunSpec], workers: int) -> dict[str, float]:
    """Embedded Ray: start-up, memory of its processes, then the grid's efficiency (start-up excluded)."""
    import ray

    ray_tmp = tempfile.mkdtemp(prefix="rb", dir="/tmp")
    start = time.perf_counter()
    opts = backends.RayOptions(cpus_per_run=1, num_cpus=workers, temp_dir=ray_tmp, retries=0)
    backends.ray_init(ray, opts)
    startup = time.perf_counter() - start
    try:
        memory = rss_of_processes_mentioning(ray_tmp)
        start = time.perf_counter()
        results = backends.run_ray(specs, opts, on_done=lambda r: None)
        wall = time.perf_counter() - start
    finally:
        ray.shutdown()
    return {
        "startup": startup,
        "memory": memory,
        "efficiency": efficiency(results, workers, wall),
        "wall": wall,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=12, help="equal runs in the grid (default 12)")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds each run sleeps (default 5)")
    p.add_argument("--workers", type=int, default=2, help="runs at the same time (default 2)")
    p.add_argument("--backends", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    p.add_argument("--out", type=Path, default=None, help="also write the Markdown report here")
    p.add_argument(
        "--from-log", type=Path, default=None, help="report the real grids of this grid.log instead"
    )
    args = p.parse_args(argv)
    if args.from_log is not None:
        try:
            print(log_report(args.from_log), end="")
        except ValueError as err:
            print(f"bench_grid.py: --from-log {args.from_log}: {err}", file=sys.stderr)
            return 1
        return 0
    lines = [
        f"# Grid scheduler efficiency: {args.runs} runs of {args.seconds:g} s, {args.workers} workers",
        "",
        f"command: `python scripts/bench_grid.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "",
        "| backend | wall (s) | efficiency | start-up (s) | memory after start (MB) |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        specs = sleep_specs(args.runs, args.seconds, Path(tmp))
        if "local" in args.backends:
            eff, wall = bench_local(specs, args.workers)
            lines.append(f"| local | {wall:.1f} | {eff:.3f} | 0 | 0 |")
        if "ray" in args.backends:
            import ray

            r = bench_ray(specs, args.workers)
            lines.append(
                f"| ray {ray.__version__} (embedded) | {r['wall']:.1f} | {r['efficiency']:.3f} | "
                f"{r['startup']:.1f} | {r['memory'] / 2**20:.0f} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
