"""Run the whole benchmark: prepare what is missing, train every loss × fold × seed, evaluate.

    segloss-bench --profile cpu --datasets drive isbi2012 --losses all --seeds 0 --folds 0 1 2 \\
        --raw-root ../shared/data --data-root data/processed --runs runs --results results/cpu --workers 2

Preparation, the loss benchmark and evaluation are subprocesses of the repository's own commands
(``data/prepare.py``, ``scripts/bench_losses.py``, ``eval.py``) run in order on this machine; the
training runs go to a backend (``--backend local|ray|slurm``, see docs/GRID.md), one ``train.py``
per run. Finished runs (docs/ARCHITECTURE.md §6) are skipped, unfinished ones resumed from their
last.pt (``--overwrite`` redoes them); a killed run is retried (``--retries``); a run that fails
with an error is reported with its log and the grid goes on, exiting non-zero at the end.
``--dry-run`` prints the plan and a time estimate. ``--losses all`` = every registered loss plus
the label-only SPW variant (``spw+use_prediction=False``); plugin losses (``pkg.mod:Cls``) pass
through to train.py unchanged.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from common import run_folder as rf
from common.run_folder import grid_log_path
from training.config import PROFILES, load_profile

from . import backends
from .checks import check_arguments, check_reference, train_args
from .plan import (
    Plan,
    bench_arguments,
    expand_losses,
    format_duration,
    make_plan,
    prepare_commands,
    print_plan,
)
from .plan import train_commands as plan_train_commands
from .progress import Progress
from .run_one import RunResult, RunSpec
from .storage import deposit_outputs, mark_storage

REPO_ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("local", "ray", "slurm")
GRID_LOG = "grid.log"  # <runs>/grid.log: the progress lines of every invocation, appended


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="segloss-bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_plan_arguments(p)
    add_backend_arguments(p)
    return p


def add_plan_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        default="cpu",
        choices=PROFILES,
        help="training profile (configs/profiles/*.yaml; default cpu)",
    )
    p.add_argument(
        "--datasets", nargs="+", required=True, help="processed data set names, e.g. drive isbi2012"
    )
    p.add_argument(
        "--losses",
        nargs="+",
        default=["all"],
        help="run names (loss, loss+k=v,..., a sum 'ce+0.5*dice', a plugin pkg.mod:Cls) or all | paper | "
        "recipes (paper = the paper's 13 rows, recipes = the newer losses' official recipes) "
        "(every loss + SPW label-only; default all)",
    )
    p.add_argument(
        "--seeds", nargs="+", type=int, default=[0], help="seeds (each with its own split; default 0)"
    )
    p.add_argument(
        "--folds",
        nargs="+",
        type=int,
        default=[0, 1, 2],
        choices=[0, 1, 2],
        help="cross-validation folds (default 0 1 2)",
    )
    p.add_argument(
        "--raw-root", type=Path, default=Path("data"), help="raw data for data/prepare.py (default data)"
    )
    p.add_argument(
        "--data-root",
        type=Path,
        default=Path("data/processed"),
        help="processed data sets (default data/processed)",
    )
    add_output_arguments(p)
    p.add_argument(
        "--results", type=Path, default=None, help="eval.py output folder (default results/<profile>)"
    )
    p.add_argument(
        "--reference", default=None, help="passed to eval.py --reference (rank every loss against it)"
    )
    p.add_argument(
        "--bench",
        action="store_true",
        help="also run scripts/bench_losses.py at the profile's training shape (batch x crop) into "
        "<runs>/bench_losses.csv for table3",
    )
    p.add_argument(
        "--train-args", default="", help="extra train.py arguments, one quoted string (e.g. '--workers 2')"
    )
    p.add_argument("--no-eval", action="store_true", help="stop after training")
    p.add_argument(
        "--dry-run", action="store_true", help="print what would run and a time estimate; run nothing"
    )
    p.add_argument("--overwrite", action="store_true", help="redo finished and unfinished runs from scratch")


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--runs", type=Path, default=Path("runs"), help="run folders, read by eval.py (default runs)"
    )
    p.add_argument(
        "--storage",
        type=Path,
        default=None,
        help="where the trainers write their run folders and checkpoints (default: --runs); on a cluster "
        "a path every node shares, and each finished run's small files come back to --runs",
    )


def add_backend_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="local: a pool on this machine (default); ray: Ray tasks (embedded, or a cluster with "
        "--address/RAY_ADDRESS); slurm: one submitit job per run",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="runs at the same time (local, embedded ray; default 1)"
    )
    p.add_argument(
        "--retries", type=int, default=2, help="retries of a run whose process was killed (default 2)"
    )
    p.add_argument(
        "--cpus-per-run",
        type=int,
        default=None,
        help="CPU cores (= torch threads) per run (default: this machine's cores / --workers)",
    )
    p.add_argument("--gpus-per-run", type=float, default=0, help="GPUs per run (ray, slurm; default 0)")
    p.add_argument("--memory-per-run", type=float, default=None, help="memory per run in GB (ray, slurm)")
    p.add_argument(
        "--address", default=None, help="ray: cluster address (default RAY_ADDRESS, else embedded Ray)"
    )
    p.add_argument("--ray-tmp", default=None, help="ray: temp dir of embedded Ray (keep it short)")
    p.add_argument("--slurm-partition", default=None, help="slurm: partition")
    p.add_argument(
        "--slurm-time", type=int, default=60, help="slurm: time limit per run in minutes (default 60)"
    )
    p.add_argument(
        "--slurm-folder",
        type=Path,
        default=None,
        help="slurm: submitit's job folder (default <runs>/_submitit)",
    )
    p.add_argument(
        "--slurm-cluster",
        default=None,
        choices=[None, "slurm", "local", "debug"],
        help="slurm: submitit cluster (default: Slurm when sbatch exists, else local processes)",
    )


def registry() -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Registered loss names and each loss's ``required_maps`` (imports torch via losses)."""
    from losses import LOSSES

    return list(LOSSES), {name: tuple(cls.required_maps) for name, cls in LOSSES.items()}


def loss_naming() -> tuple[dict[str, str], Callable[[str], str]]:
    """The recipe rows (canonical run name → label) and the canonical run name of a loss spec."""
    from losses import LOSSES, loss_run_name
    from losses.recipes import recipe_rows

    return recipe_rows(LOSSES), loss_run_name


def run_step(cmd: list[str], what: str) -> bool:
    """Run one subprocess from the repository root, streaming its output; True on success."""
    print(f"\n$ {shlex.join(cmd)}", flush=True)
    code = subprocess.run(cmd, cwd=REPO_ROOT, check=False).returncode
    if code != 0:
        print(f"run_benchmark: {what} failed with exit code {code}", file=sys.stderr, flush=True)
    return code == 0


def prepare_all(plan: Plan, python: str, failed: list[str]) -> None:
    args = plan.args
    for dataset, reasons in plan.prepares.items():
        if not reasons:
            continue
        for cmd in prepare_commands(python, dataset, args.raw_root, args.data_root, plan.maps, args.seeds):
            if not run_step(cmd, f"preparing {dataset}"):
                failed.append(f"prepare {dataset}")
                break


def storage_root(args: argparse.Namespace) -> Path:
    """Where the trainers write (``--storage``, default ``--runs``), absolute: workers may run elsewhere."""
    return (args.storage or args.runs).resolve()


def returns_outputs(args: argparse.Namespace) -> bool:
    return storage_root(args) != args.runs.resolve()


def run_specs(
    plan: Plan, python: str, threads: int, group_folds: bool, skip_datasets: set[str], token: str = ""
) -> list[RunSpec]:
    """One :class:`RunSpec` per train.py command (absolute paths: workers may run elsewhere)."""
    args = plan.args
    runs, data_root = storage_root(args), args.data_root.resolve()
    todo = [j for j in plan.todo if j.dataset not in skip_datasets]
    env = (*backends.thread_env(threads), ("PYTHONPATH", backends.with_repo_on_path()["PYTHONPATH"]))
    out = []
    for jobs, cmd in plan_train_commands(
        python,
        todo,
        args.profile,
        data_root,
        runs,
        [*train_args(args.train_args), "--no-progress"],
        group_folds,
    ):
        folders = [j.folder(runs) for j in jobs]
        label = (
            str(jobs[0])
            if len(jobs) == 1
            else f"{jobs[0].dataset}/{jobs[0].run_name}/seed{jobs[0].seed}/fold all"
        )
        out.append(
            RunSpec(
                label,
                tuple(cmd),
                str(REPO_ROOT),
                tuple(map(str, folders)),
                str(grid_log_path(folders)),
                env,
                args.retries,
                storage=str(runs) if token else "",
                storage_token=token,
                return_outputs=returns_outputs(args),
            )
        )
    return out


def clear_overwritten(plan: Plan) -> None:
    """``--overwrite``: delete the folders of runs to redo, once, before any attempt (retries then resume)."""
    for job in plan.todo:
        if plan.actions[job] == "overwrite":
            shutil.rmtree(job.folder(plan.args.runs), ignore_errors=True)
            shutil.rmtree(job.folder(storage_root(plan.args)), ignore_errors=True)


def ray_options(args: argparse.Namespace, threads: int) -> backends.RayOptions:
    memory_gb = args.memory_per_run
    return backends.RayOptions(
        cpus_per_run=threads,
        gpus_per_run=args.gpus_per_run,
        memory_per_run=int(memory_gb * 2**30) if memory_gb else None,
        address=args.address,
        num_cpus=threads * args.workers,
        temp_dir=str(Path(args.ray_tmp).resolve()) if args.ray_tmp else None,
        retries=args.retries,
    )


def run_threads(args: argparse.Namespace) -> int:
    return args.cpus_per_run or backends.threads_per_run(args.workers)


def execute(specs: list[RunSpec], args: argparse.Namespace, progress: Progress) -> list[RunResult]:
    """Hand the runs to the chosen backend; each result's returned files land in ``--runs`` first."""
    threads = run_threads(args)
    on_done = returned_to(args, specs, progress.finished)
    if args.backend == "local":
        return backends.run_local(specs, args.workers, on_done, progress.started)
    on_poll = running_counter(specs, progress)
    if args.backend == "ray":
        return backends.run_ray(specs, ray_options(args, threads), on_done, on_poll=on_poll)
    opts = backends.SlurmOptions(
        folder=str(args.slurm_folder or args.runs / "_submitit"),
        cluster=args.slurm_cluster,
        partition=args.slurm_partition,
        timeout_min=args.slurm_time,
        cpus_per_run=threads,
        gpus_per_run=int(args.gpus_per_run),
        mem_gb=args.memory_per_run,
    )
    return backends.run_slurm(specs, opts, on_done, on_poll=on_poll)


def returned_to(args: argparse.Namespace, specs: list[RunSpec], report: backends.OnDone) -> backends.OnDone:
    """``report`` preceded by writing a result's returned files into its ``--runs`` folders."""
    storage, runs = storage_root(args), args.runs.resolve()
    folders = {s.label: [runs / Path(f).relative_to(storage) for f in s.folders] for s in specs}

    def on_done(result: RunResult) -> None:
        for files, folder in zip(result.outputs, folders.get(result.label, ())):
            deposit_outputs(files, folder)
        result.outputs = ()  # the bytes are written; keep the result list small
        report(result)

    return on_done


def running_counter(specs: list[RunSpec], progress: Progress) -> backends.OnPoll:
    """Ray and Slurm start runs out of the driver's sight: a run is running while its folder holds
    the trainer's lock (docs/ARCHITECTURE.md §6) and is not finished."""

    def poll() -> None:
        folders = [Path(f) for s in specs for f in s.folders]
        progress.set_running(sum((f / rf.LOCK).exists() and not rf.is_finished(f) for f in folders))

    return poll


def train_all(plan: Plan, python: str, failed: list[str], token: str) -> None:
    args = plan.args
    for job in plan.conflicts:
        print(
            f"run_benchmark: {job.folder(args.runs)} was made with another profile than {args.profile}; "
            "skipped (use another --runs folder, or --overwrite)",
            file=sys.stderr,
        )
    threads = run_threads(args)
    skip = {f.removeprefix("prepare ") for f in failed if f.startswith("prepare ")}
    group = args.backend == "local" and args.workers == 1
    clear_overwritten(plan)
    specs = run_specs(plan, python, threads, group, skip, token)
    progress = Progress(len(specs), args.workers, args.runs / GRID_LOG, fixed_slots=not on_cluster(args))
    progress.emit(f"grid: {len(specs)} train.py runs {where_runs_go(args)}, {threads} thread(s) each")
    execute(specs, args, progress)
    progress.emit(progress.summary())
    failed += [r.error for r in progress.failures]


def on_cluster(args: argparse.Namespace) -> bool:
    """Slurm, or a Ray cluster that is not started here: --workers does not size the pool."""
    return args.backend == "slurm" or bool(
        args.backend == "ray" and (args.address or os.environ.get("RAY_ADDRESS"))
    )


def where_runs_go(args: argparse.Namespace) -> str:
    """The grid's first line: N workers here, or the cluster that schedules the runs."""
    if args.backend == "slurm":
        return (
            f"as Slurm jobs (submitit executor: {args.slurm_cluster or 'Slurm if sbatch exists, else local'})"
        )
    if on_cluster(args):
        return f"on the Ray cluster at {args.address or os.environ['RAY_ADDRESS']}"
    return f"on {args.backend} with {args.workers} worker(s)"


def bench_and_evaluate(plan: Plan, python: str, failed: list[str]) -> None:
    args = plan.args
    if args.bench:
        bench = REPO_ROOT / "scripts" / "bench_losses.py"
        cmd = [
            python,
            str(bench),
            *bench_arguments(load_profile(args.profile), plan.run_names, run_threads(args)),
            "--csv",
            str(args.runs / "bench_losses.csv"),
        ]
        if not run_step(cmd, "bench_losses"):
            failed.append("bench_losses")
    if not args.no_eval:
        results = args.results or Path("results") / args.profile
        cmd = [
            python,
            "eval.py",
            "--runs",
            str(args.runs),
            "--datasets",
            *args.datasets,
            "--losses",
            *plan.run_names,
            "--profile",
            args.profile,
            "--data-root",
            str(args.data_root),
            "--out",
            str(results),
            "--overwrite",
        ]
        if args.reference:
            cmd += ["--reference", args.reference]
        if not run_step(cmd, "eval.py"):
            failed.append("eval")
        else:
            print(standing(results / "leaderboard.md"), flush=True)


def standing(leaderboard: Path) -> str:
    """The leaderboard's overall ranking (mean rank, bootstrap rank interval) and where Δ and CIs are."""
    try:
        text = leaderboard.read_text(encoding="utf-8")
    except OSError:
        return f"(no leaderboard at {leaderboard})"
    head, sep, rest = text.partition("## Overall")
    if not sep:
        return f"(no overall ranking in {leaderboard})"
    section = rest.split("\n## ", 1)[0]
    return f"\nwhere each loss stands{section.rstrip()}\n\nΔ and 95% CI against the reference, per data set and metric: {leaderboard}"


def check_train_args(plan: Plan, python: str) -> bool:
    """``train.py --check`` once per data set with ``--loss ce`` (the profile, the data set and
    ``--train-args`` together; each run's own loss is checked when it starts, and a failing run is
    reported without stopping the grid); False, with the trainer's message, when one is refused."""
    args = plan.args
    firsts = {}
    for job in plan.todo:
        firsts.setdefault(job.dataset, replace(job, run_name="ce"))
    for job in firsts.values():
        extra = train_args(args.train_args)
        _, cmd = plan_train_commands(
            python, [job], args.profile, args.data_root.resolve(), storage_root(args), extra, False
        )[0]
        done = subprocess.run([*cmd, "--check"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
            print(
                f"run_benchmark: error: --train-args {args.train_args!r} on {job.dataset}: {lines[-1]}",
                file=sys.stderr,
            )
            return False
    return True


def validated(argv: list[str] | None) -> tuple[argparse.Namespace, list[str], dict] | None:
    """Parsed and checked arguments with the run names; None (after printing why) when refused."""
    args = build_parser().parse_args(argv)
    registered, required = registry()
    try:
        check_arguments(args)
        recipes, canonical = loss_naming()
        run_names = expand_losses(args.losses, registered, recipes, canonical)
        args.reference = check_reference(args.reference, run_names, canonical)
    except ValueError as err:
        print(f"run_benchmark: error: {err}", file=sys.stderr)
        return None
    return args, run_names, required


def main(argv: list[str] | None = None) -> int:
    checked = validated(argv)
    if checked is None:
        return 2
    args, run_names, required = checked
    plan = make_plan(args, run_names, required)
    print_plan(plan, detailed=args.dry_run)
    if args.dry_run:
        return 0
    try:  # a Ray cluster that cannot be joined is refused before anything is written
        backend = args.backend if plan.todo else "none"
        ray_started = backends.connect(backend, ray_options(args, run_threads(args)))
    except backends.BackendUnavailable as err:
        print(f"run_benchmark: error: {err}", file=sys.stderr)
        return 2
    restore = stop_on_sigterm()
    try:
        return run_grid(plan)
    finally:
        restore()
        backends.disconnect(ray_started)


class GridStopped(KeyboardInterrupt):
    """SIGTERM (``kill``, a batch scheduler's stop) handled as Ctrl-C is: no new run starts, the
    running trainers are stopped, finished runs are kept. A KeyboardInterrupt, so every ``except
    KeyboardInterrupt`` of the backends stops the children for it too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def stop_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into :class:`GridStopped` while the grid runs; the function that undoes it.

    A grid started in the background (``cmd &``) ignores SIGINT, so ``kill <pid>`` (SIGTERM) is the
    way to stop it; without this handler SIGTERM killed the runner and left its trainers running.
    A second SIGTERM during the stop is ignored, so the clean-up finishes.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)

    def stop(signum: int, _frame) -> None:
        signal.signal(signum, signal.SIG_IGN)
        raise GridStopped(signum)

    signal.signal(signal.SIGTERM, stop)
    return lambda: signal.signal(signal.SIGTERM, previous)


def run_grid(plan: Plan) -> int:
    """Prepare, check the trainer's arguments, train, evaluate; the exit code."""
    args, failed, start = plan.args, [], time.perf_counter()
    try:
        prepare_all(plan, sys.executable, failed)
        if plan.todo and not check_train_args(plan, sys.executable):
            return 2
        token = mark_storage(storage_root(args)) if returns_outputs(args) or args.backend != "local" else ""
        train_all(plan, sys.executable, failed, token)
    except KeyboardInterrupt as err:
        signum = err.signum if isinstance(err, GridStopped) else signal.SIGINT
        how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        print(
            f"\nrun_benchmark: {how} after {format_duration(time.perf_counter() - start)}; finished runs "
            "are kept, rerun the same command to resume",
            file=sys.stderr,
        )
        return 128 + signum
    except backends.BackendUnavailable as err:
        print(f"run_benchmark: error: {err}", file=sys.stderr)
        return 2
    bench_and_evaluate(plan, sys.executable, failed)
    if failed or plan.conflicts:
        print(
            f"run_benchmark: {len(failed)} step(s) failed; {len(plan.conflicts)} conflict(s). "
            "Rerun the same command to resume.",
            file=sys.stderr,
        )
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0
