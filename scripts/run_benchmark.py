"""Run the whole benchmark: prepare what is missing, train every loss × fold × seed, evaluate.

    python scripts/run_benchmark.py --profile cpu --datasets drive isbi2012 --losses all --seeds 0 \\
        --folds 0 1 2 --raw-root ../shared/data --data-root data/processed --runs runs --results results/cpu

Each step is a subprocess of the repository's own commands (``data/prepare.py``, ``train.py``,
``scripts/bench_losses.py``, ``eval.py``). Finished runs (timing.json and test_metrics.csv present,
docs/ARCHITECTURE.md §6) are skipped and unfinished ones resumed from their last.pt, so the runner
can be stopped and restarted at any time. ``--dry-run`` prints the plan and a time estimate.
``--losses all`` = every registered loss plus the label-only SPW variant (``spw+use_prediction=False``).

The plan is built by pure functions (``plan_jobs``, ``job_action``, ``train_commands``, ...) so that
the skip/resume logic is tested without training anything.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common import run_folder as rf
from common.run_folder import RunId, read_profile, split_run_name
from common.run_folder import run_name as join_run_name
from training.config import PROFILES, load_profile

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The extra Table 1 row (docs/METHOD.md §2): SPW with the label-only weight map.
LABEL_ONLY_SPW = "spw+use_prediction=False"

#: Rough seconds per run (one loss, one fold) when no finished run of the same profile and data set
#: exists to measure from; 2 CPU cores for smoke/cpu, one GPU for paper. Keyed (profile, data set);
#: (profile, None) is the profile's fallback.
DEFAULT_RUN_SECONDS: dict[tuple[str, str | None], float] = {
    ("smoke", None): 20.0,
    ("demo", None): 25.0,
    ("cpu", "drive"): 130.0,
    ("cpu", "isbi2012"): 100.0,
    ("cpu", None): 130.0,
    ("paper", "drive"): 900.0,
    ("paper", "snemi3d"): 1800.0,
    ("paper", None): 1800.0,
}
PREPARE_SECONDS = 60.0  # rough, per data set that needs preparing (maps dominate)


#: One training run: data set × run name × seed × fold (the run-folder identity).
Job = RunId


def expand_losses(names: list[str], registered: list[str]) -> list[str]:
    """Run names to train: ``all`` = every registered loss + the label-only SPW row; others as given.

    Raises:
        ValueError: a name whose loss is not registered (lists the registered ones).
    """
    out: list[str] = []
    for name in names:
        if name == "all":
            out += [*registered, LABEL_ONLY_SPW] if "spw" in registered else list(registered)
            continue
        loss, _ = split_run_name(name)
        if loss not in registered:
            raise ValueError(f"--losses: unknown loss {loss!r} in {name!r}; registered: {', '.join(registered)}")
        out.append(name)
    return list(dict.fromkeys(out))


def bench_arguments(recipe: dict) -> list[str]:
    """scripts/bench_losses.py arguments timing the losses at the profile's training shape.

    A profile with a crop trains on ``batch × crop`` tensors, so that is the shape whose loss
    cost belongs in table3 beside the runs' epoch times; a profile without one trains on whole
    images of data-set-dependent size, so bench_losses keeps its own default sizes then.
    """
    if recipe.get("crop") is None:
        return []
    h, w = recipe["crop"]
    return ["--sizes", f"{recipe['batch_size']}x{h}x{w}"]


def plan_jobs(datasets: list[str], run_names: list[str], seeds: list[int], folds: list[int]) -> list[Job]:
    """Every job, in the order they run: data set, seed, loss, fold."""
    return [Job(d, r, s, f) for d in datasets for s in seeds for r in run_names for f in folds]


def job_action(folder: Path, profile: str) -> str:
    """What to do with a run folder.

    Returns:
        ``"skip"`` (finished with this profile), ``"resume"`` (has last.pt), ``"restart"`` (exists
        without a checkpoint: stopped before its first epoch ended; train.py starts it afresh),
        ``"fresh"`` (absent), or ``"conflict"`` (finished or started with another profile: run
        folders do not name the profile, so a second profile needs its own --runs).
    """
    if not folder.exists():
        return "fresh"
    config = read_profile(folder)
    if config is not None and config != profile:
        return "conflict"
    if rf.is_finished(folder):
        return "skip"
    if (folder / rf.LAST_CHECKPOINT).is_file():
        return "resume"
    return "restart"


def train_commands(python: str, todo: list[Job], profile: str, data_root: Path, runs: Path,
                   extra: list[str] = ()) -> list[tuple[list[Job], list[str]]]:
    """``train.py`` command lines for the jobs to run, grouped per data set × loss × seed.

    A group holding all three folds becomes one ``--fold all`` process (one interpreter and torch
    start-up instead of three); otherwise one process per fold. Every command passes ``--resume``:
    train.py then resumes a folder with last.pt, starts an absent or checkpoint-less one afresh and
    skips a finished one, which is exactly the runner's skip-and-resume rule.
    """
    groups: dict[tuple[str, str, int], list[Job]] = {}
    for job in todo:
        groups.setdefault((job.dataset, job.run_name, job.seed), []).append(job)
    out = []
    for (dataset, run_name, seed), jobs in groups.items():
        loss, kwargs = split_run_name(run_name)
        if join_run_name(loss, kwargs) != run_name:
            raise ValueError(f"run name {run_name!r} is not in train.py's form {join_run_name(loss, kwargs)!r}")
        base = [python, "train.py", "--loss", loss]
        if kwargs:
            base += ["--loss-kwargs", *(f"{k}={v}" for k, v in sorted(kwargs.items()))]
        base += ["--dataset", dataset, "--data-root", str(data_root), "--seed", str(seed), "--profile", profile,
                 "--out", str(runs), *extra, "--resume", "--fold"]
        if sorted(j.fold for j in jobs) == [0, 1, 2]:
            out.append((jobs, [*base, "all"]))
        else:
            out += [([j], [*base, str(j.fold)]) for j in jobs]
    return out


def maps_needed(run_names: list[str], required: dict[str, tuple[str, ...]]) -> list[str]:
    """Union of the precomputed maps the runs' losses read, in first-use order."""
    out: list[str] = []
    for name in run_names:
        out += required[split_run_name(name)[0]]
    return list(dict.fromkeys(out))


def prepare_reasons(root: Path, maps: list[str], seeds: list[int]) -> list[str]:
    """Why ``root`` (one processed data set) must be (re)prepared; empty when it is ready."""
    meta_path = root / "metadata.json"
    if not meta_path.is_file():
        return [f"{meta_path} missing"]
    try:
        metadata = json.loads(meta_path.read_text())
        splits = json.loads((root / "splits.json").read_text()).get("splits", {})
    except (FileNotFoundError, json.JSONDecodeError) as err:
        return [f"{root}: unreadable metadata/splits ({err})"]
    reasons = [f"map {m} missing" for m in maps if m not in metadata.get("maps", {})
               or not (root / "maps" / m).is_dir()]
    reasons += [f"split seed {s} missing" for s in seeds if str(s) not in splits]
    return reasons


def prepare_commands(python: str, dataset: str, raw_root: Path, data_root: Path, maps: list[str],
                     seeds: list[int]) -> list[list[str]]:
    """``data/prepare.py`` calls writing ``dataset`` with ``maps`` and one split per seed.

    prepare.py keeps an existing output and only adds missing maps and split seeds, so calling it
    again is cheap; it takes one ``--seed`` per call.
    """
    base = [python, "data/prepare.py", "--dataset", dataset, "--raw-root", str(raw_root),
            "--out-root", str(data_root), "--maps", *(maps or ["none"]), "--no-progress"]
    return [[*base, "--seed", str(s)] for s in seeds]


def finished_seconds(runs: Path, profile: str) -> dict[tuple[str, str], list[float]]:
    """``total_seconds`` of every finished run of ``profile``, keyed (data set, run name)."""
    out: dict[tuple[str, str], list[float]] = {}
    for run_id, folder in rf.iter_run_folders(runs):
        if not (folder / rf.TIMING).is_file() or read_profile(folder) != profile:
            continue
        try:
            seconds = float(json.loads((folder / rf.TIMING).read_text())["total_seconds"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        out.setdefault((run_id.dataset, run_id.run_name), []).append(seconds)
    return out


def estimate_seconds(job: Job, profile: str, measured: dict[tuple[str, str], list[float]]) -> float:
    """Median measured time of the same data set and loss, else of the data set, else the table."""
    import statistics

    same = measured.get((job.dataset, job.run_name))
    if same:
        return statistics.median(same)
    dataset = [s for (d, _), v in measured.items() if d == job.dataset for s in v]
    if dataset:
        return statistics.median(dataset)
    return DEFAULT_RUN_SECONDS.get((profile, job.dataset), DEFAULT_RUN_SECONDS.get((profile, None), 600.0))


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="cpu", choices=PROFILES,
                   help="training profile (configs/profiles/*.yaml; default cpu)")
    p.add_argument("--datasets", nargs="+", required=True, help="processed data set names, e.g. drive isbi2012")
    p.add_argument("--losses", nargs="+", default=["all"],
                   help="run names (loss or loss+k=v,...) or 'all' (every loss + SPW label-only; default all)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds (each with its own split; default 0)")
    p.add_argument("--folds", nargs="+", type=int, default=[0, 1, 2], choices=[0, 1, 2],
                   help="cross-validation folds (default 0 1 2)")
    p.add_argument("--raw-root", type=Path, default=Path("data"), help="raw data for data/prepare.py (default data)")
    p.add_argument("--data-root", type=Path, default=Path("data/processed"),
                   help="processed data sets (default data/processed)")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="run folders (default runs)")
    p.add_argument("--results", type=Path, default=None, help="eval.py output folder (default results/<profile>)")
    p.add_argument("--bench", action="store_true",
                   help="also run scripts/bench_losses.py at the profile's training shape (batch x crop) into "
                        "<runs>/bench_losses.csv for table3")
    p.add_argument("--train-args", default="", help="extra train.py arguments, one quoted string (e.g. '--workers 2')")
    p.add_argument("--no-eval", action="store_true", help="stop after training")
    p.add_argument("--dry-run", action="store_true", help="print what would run and a time estimate; run nothing")
    return p


def registry() -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Registered loss names and each loss's ``required_maps`` (imports torch via losses)."""
    from losses import LOSSES

    return list(LOSSES), {name: tuple(cls.required_maps) for name, cls in LOSSES.items()}


def run_step(cmd: list[str], what: str) -> bool:
    """Run one subprocess from the repository root, streaming its output; True on success."""
    print(f"\n$ {shlex.join(cmd)}", flush=True)
    code = subprocess.run(cmd, cwd=REPO_ROOT, check=False).returncode
    if code != 0:
        print(f"run_benchmark: {what} failed with exit code {code}", file=sys.stderr, flush=True)
    return code == 0


@dataclass
class Plan:
    """What one invocation will do: the jobs and their actions, the data sets to (re)prepare."""

    args: argparse.Namespace
    run_names: list[str]
    maps: list[str]
    prepares: dict[str, list[str]]
    jobs: list[Job]
    actions: dict[Job, str]
    measured: dict[tuple[str, str], list[float]]

    @property
    def todo(self) -> list[Job]:
        return [j for j in self.jobs if self.actions[j] in ("fresh", "resume", "restart")]

    @property
    def conflicts(self) -> list[Job]:
        return [j for j in self.jobs if self.actions[j] == "conflict"]

    def estimate(self, job: Job | None = None) -> float:
        """Seconds for one job, or for the whole plan (training and preparation)."""
        if job is not None:
            return estimate_seconds(job, self.args.profile, self.measured)
        total = sum(self.estimate(j) for j in self.todo)
        return total + PREPARE_SECONDS * sum(bool(r) for r in self.prepares.values())


def make_plan(args: argparse.Namespace, run_names: list[str], required: dict[str, tuple[str, ...]]) -> Plan:
    maps = maps_needed(run_names, required)
    prepares = {d: prepare_reasons(args.data_root / d, maps, args.seeds) for d in args.datasets}
    jobs = plan_jobs(args.datasets, run_names, args.seeds, args.folds)
    actions = {job: job_action(job.folder(args.runs), args.profile) for job in jobs}
    return Plan(args, run_names, maps, prepares, jobs, actions, finished_seconds(args.runs, args.profile))


def print_plan(plan: Plan, detailed: bool) -> None:
    args, jobs, todo, conflicts = plan.args, plan.jobs, plan.todo, plan.conflicts
    print(f"benchmark: profile {args.profile}, {len(args.datasets)} data sets × {len(plan.run_names)} losses × "
          f"{len(args.seeds)} seeds × {len(args.folds)} folds = {len(jobs)} runs; "
          f"{len(jobs) - len(todo) - len(conflicts)} finished, {len(todo)} to run, {len(conflicts)} in conflict; "
          f"estimate {format_duration(plan.estimate())}")
    for dataset, reasons in plan.prepares.items():
        if reasons:
            print(f"  prepare {dataset}: {'; '.join(reasons)}")
    if detailed:
        for job in jobs:
            action = plan.actions[job]
            est = "" if action in ("skip", "conflict") else f"  ~{format_duration(plan.estimate(job))}"
            print(f"  {action:8s} {job.folder(args.runs)}{est}")


def prepare_all(plan: Plan, python: str, failed: list[str]) -> None:
    args = plan.args
    for dataset, reasons in plan.prepares.items():
        if not reasons:
            continue
        for cmd in prepare_commands(python, dataset, args.raw_root, args.data_root, plan.maps, args.seeds):
            if not run_step(cmd, f"preparing {dataset}"):
                failed.append(f"prepare {dataset}")
                break


def train_all(plan: Plan, python: str, failed: list[str]) -> None:
    args = plan.args
    for job in plan.conflicts:
        print(f"run_benchmark: {job.folder(args.runs)} was made with another profile than {args.profile}; "
              "skipped (use another --runs folder)", file=sys.stderr)
    start = time.perf_counter()
    commands = train_commands(python, plan.todo, args.profile, args.data_root, args.runs, shlex.split(args.train_args))
    for i, (jobs, cmd) in enumerate(commands, 1):
        what = ", ".join(str(j.folder(args.runs)) for j in jobs)
        if f"prepare {jobs[0].dataset}" in failed:
            continue
        print(f"\n[{i}/{len(commands)}] {what}", flush=True)
        if not run_step(cmd, f"training {what}"):
            failed.append(what)
    print(f"\ntraining wall time: {format_duration(time.perf_counter() - start)}", flush=True)


def bench_and_evaluate(plan: Plan, python: str, failed: list[str]) -> None:
    args = plan.args
    if args.bench:
        bench = REPO_ROOT / "scripts" / "bench_losses.py"
        cmd = [python, str(bench), *bench_arguments(load_profile(args.profile)), "--csv", str(args.runs / "bench_losses.csv")]
        if not run_step(cmd, "bench_losses"):
            failed.append("bench_losses")
    if not args.no_eval:
        results = args.results or Path("results") / args.profile
        cmd = [python, "eval.py", "--runs", str(args.runs), "--datasets", *args.datasets, "--losses", *plan.run_names,
               "--profile", args.profile, "--data-root", str(args.data_root), "--out", str(results), "--overwrite"]
        if not run_step(cmd, "eval.py"):
            failed.append("eval")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    registered, required = registry()
    try:
        run_names = expand_losses(args.losses, registered)
    except ValueError as err:
        print(f"run_benchmark: error: {err}", file=sys.stderr)
        return 2
    plan = make_plan(args, run_names, required)
    print_plan(plan, detailed=args.dry_run)
    if args.dry_run:
        return 0
    failed: list[str] = []
    prepare_all(plan, sys.executable, failed)
    train_all(plan, sys.executable, failed)
    bench_and_evaluate(plan, sys.executable, failed)
    if failed or plan.conflicts:
        print(f"run_benchmark: {len(failed)} step(s) failed: {', '.join(failed) or '-'}; {len(plan.conflicts)} "
              "conflict(s). Rerun the same command to resume.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
