"""The grid's plan: which runs, in which order, what to do with each, and how long it will take.

Pure functions over the run-folder contract (:mod:`common.run_folder`, docs/ARCHITECTURE.md §6),
so the skip/resume logic is tested without training anything. A *job* is one run
(data set × run name × seed × fold); its action is decided from its folder alone.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import run_folder as rf
from common.names import did_you_mean
from common.run_folder import RunId, read_profile, split_run_name
from common.run_folder import run_name as join_run_name

#: The extra Table 1 row (PAPER_SPEC §2): SPW with the label-only weight map.
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


#: The losses of the paper's Table 1 (docs/METHOD.md §8), in its order.
PAPER_LOSSES = (
    "ce",
    "balanced_ce",
    "bce",
    "dice",
    "focal",
    "jaccard",
    "tversky",
    "wce",
    "abw",
    "skea_topo",
    "rmi",
    "cldice",
    "spw",
)


def is_plugin(name: str) -> bool:
    """A loss spec train.py resolves itself, passed through unchanged (the losses issue).

    A plugin ``pkg.mod:Cls``, or a weighted sum such as ``ce+0.5*dice`` / ``dice+focal[gamma=2.5]``
    (a ``+`` part that is not ``k=v`` pairs, or ``*``/``[``/``]`` anywhere: the rule of
    ``common.run_folder.split_run_name`` for sums).
    """
    _, sep, rest = name.partition("+")
    return ":" in name or any(c in name for c in "*[]") or bool(sep and ("=" not in rest or "+" in rest))


def _terms(name: str) -> list[str]:
    """Loss names of a run name's terms (``"2*ce+dice[smooth=1]"`` → ``["ce", "dice"]``)."""
    if is_plugin(name):
        return [name]
    loss, kwargs = split_run_name(name)
    if kwargs or "+" not in loss:
        return [loss]
    return [re.sub(r"^[^*]*\*", "", part).split("[")[0] for part in loss.split("+")]


def expand_losses(
    names: list[str],
    registered: list[str],
    recipes: dict[str, str] | None = None,
    canonical: Callable[[str], str] | None = None,
) -> list[str]:
    """Run names to train, canonical (``canonical``: ``losses.loss_run_name`` in the CLI).

    Keywords: ``all`` = every registered loss + the label-only SPW row + the recipe rows;
    ``paper`` = the paper's Table 1 losses present + the label-only SPW row; ``recipes`` = the newer
    losses' official recipes (``losses.recipes``). Sums and plugins (``pkg.mod:Cls``) pass through.

    Raises:
        ValueError: a name whose loss is not registered (lists the registered ones).
    """
    recipes = recipes or {}
    spw_extra = [LABEL_ONLY_SPW] if "spw" in registered else []
    keywords = {
        "all": [*registered, *spw_extra, *recipes],
        "paper": [*(n for n in PAPER_LOSSES if n in registered), *spw_extra],
        "recipes": list(recipes),
    }
    out: list[str] = []
    for name in names:
        if name in keywords:
            out += keywords[name]
            continue
        unknown = [t for t in _terms(name) if not is_plugin(t) and t not in registered]
        if unknown:
            raise ValueError(
                f"--losses {name!r}: "
                + did_you_mean("loss", unknown[0], [*registered, *keywords])
                + " Also accepted: a sum such as 'ce+0.5*dice', a plugin 'pkg.mod:Cls'."
            )
        try:
            out.append(canonical(name) if canonical else name)
        except ValueError as err:
            raise ValueError(f"--losses {name!r}: {err}") from None
    return list(dict.fromkeys(out))


def bench_arguments(
    recipe: dict, run_names: list[str] | None = None, threads: int | None = None
) -> list[str]:
    """scripts/bench_losses.py arguments timing the grid's rows at the profile's training shape.

    A profile with a crop trains on ``batch × crop`` tensors, so that is the shape whose loss
    cost belongs in table3 beside the runs' epoch times; a profile without one trains on whole
    images of data-set-dependent size, so bench_losses keeps its own default sizes then. Every row
    of the grid is timed (sums and plugins included, by run name), with the runs' thread count.
    """
    out = []
    if recipe.get("crop") is not None:
        h, w = recipe["crop"]
        out += ["--sizes", f"{recipe['batch_size']}x{h}x{w}"]
    if run_names:
        out += ["--losses", ",".join(run_names)]
    if threads:
        out += ["--threads", str(threads)]
    return out


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


def train_commands(
    python: str,
    todo: list[Job],
    profile: str,
    data_root: Path,
    runs: Path,
    extra: list[str] = (),
    group_folds: bool = True,
) -> list[tuple[list[Job], list[str]]]:
    """``train.py`` command lines for the jobs to run, grouped per data set × loss × seed.

    With ``group_folds``, a group holding all three folds becomes one ``--fold all`` process (one
    interpreter and torch start-up instead of three: the choice for one worker); otherwise one
    process per fold (the choice for parallel workers, where each run is a schedulable task). Every command passes ``--resume``:
    train.py then resumes a folder with last.pt, starts an absent or checkpoint-less one afresh and
    skips a finished one, which is exactly the runner's skip-and-resume rule.
    """
    groups: dict[tuple[str, str, int], list[Job]] = {}
    for job in todo:
        groups.setdefault((job.dataset, job.run_name, job.seed), []).append(job)
    out = []
    for (dataset, run_name, seed), jobs in groups.items():
        loss, kwargs = (run_name, {}) if is_plugin(run_name) else split_run_name(run_name)
        if join_run_name(loss, kwargs) != run_name:
            raise ValueError(
                f"run name {run_name!r} is not in train.py's form {join_run_name(loss, kwargs)!r}"
            )
        base = [python, "train.py", "--loss", loss]
        if kwargs:
            base += ["--loss-kwargs", *(f"{k}={v}" for k, v in sorted(kwargs.items()))]
        base += [
            "--dataset",
            dataset,
            "--data-root",
            str(data_root),
            "--seed",
            str(seed),
            "--profile",
            profile,
            "--out",
            str(runs),
            *extra,
            "--resume",
            "--fold",
        ]
        if group_folds and sorted(j.fold for j in jobs) == [0, 1, 2]:
            out.append((jobs, [*base, "all"]))
        else:
            out += [([j], [*base, str(j.fold)]) for j in jobs]
    return out


def maps_needed(run_names: list[str], required: dict[str, tuple[str, ...]]) -> list[str]:
    """Union of the precomputed maps the runs' losses read, in first-use order.

    A plugin loss is not in ``required``; train.py checks the maps it declares when it starts.
    """
    out: list[str] = []
    for name in run_names:
        if name in required:
            out += required[name]
            continue
        for term in _terms(name):
            if not is_plugin(term):
                out += required[term]
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
    reasons = [
        f"map {m} missing"
        for m in maps
        if m not in metadata.get("maps", {}) or not (root / "maps" / m).is_dir()
    ]
    reasons += [f"split seed {s} missing" for s in seeds if str(s) not in splits]
    return reasons


def prepare_commands(
    python: str, dataset: str, raw_root: Path, data_root: Path, maps: list[str], seeds: list[int]
) -> list[list[str]]:
    """``data/prepare.py`` calls writing ``dataset`` with ``maps`` and one split per seed.

    prepare.py keeps an existing output and only adds missing maps and split seeds, so calling it
    again is cheap; it takes one ``--seed`` per call.
    """
    base = [
        python,
        "data/prepare.py",
        "--dataset",
        dataset,
        "--raw-root",
        str(raw_root),
        "--out-root",
        str(data_root),
        "--maps",
        *(maps or ["none"]),
        "--no-progress",
    ]
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
        return [j for j in self.jobs if self.actions[j] in ("fresh", "resume", "restart", "overwrite")]

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
    if getattr(args, "overwrite", False):
        actions = {job: "fresh" if a == "fresh" else "overwrite" for job, a in actions.items()}
    return Plan(args, run_names, maps, prepares, jobs, actions, finished_seconds(args.runs, args.profile))


def print_plan(plan: Plan, detailed: bool) -> None:
    args, jobs, todo, conflicts = plan.args, plan.jobs, plan.todo, plan.conflicts
    print(
        f"benchmark: profile {args.profile}, {len(args.datasets)} data sets × {len(plan.run_names)} losses × "
        f"{len(args.seeds)} seeds × {len(args.folds)} folds = {len(jobs)} runs; "
        f"{len(jobs) - len(todo) - len(conflicts)} finished, {len(todo)} to run, {len(conflicts)} in conflict; "
        f"estimate {format_duration(plan.estimate())}"
    )
    for dataset, reasons in plan.prepares.items():
        if reasons:
            print(f"  prepare {dataset}: {'; '.join(reasons)}")
    if detailed:
        for job in jobs:
            action = plan.actions[job]
            est = "" if action in ("skip", "conflict") else f"  ~{format_duration(plan.estimate(job))}"
            print(f"  {action:8s} {job.folder(args.runs)}{est}")
