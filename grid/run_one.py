"""One run of the grid as a pure function: ``run_one(spec) -> RunResult``.

Every backend (local pool, Ray task, Slurm job) calls this same function. It runs the run's
``train.py`` command as a child process that never detaches (no ``start_new_session``: the child
stays in its parent's process group, so a worker that dies takes its trainer with it and a retry
never races a stale trainer; Ray kills a lost worker's process group). The command always passes
``--resume``, so a second attempt continues from the run's own ``last.pt`` (docs/ARCHITECTURE.md §6).

Retry rule (issue 15 §3): a child killed by a signal (negative return code: SIGKILL, the OOM
killer, a lost terminal) is retried up to ``spec.retries`` times; a child that exits with a
non-zero code raised its own error (bad loss argument, missing data) and is *not* retried: the
result names the log file to read instead.

The child's stdout and stderr go to ``spec.log``, beside the run folder
(``<runs>/<dataset>/<run-name>/seed<S>/fold<k>.grid.log``): the run folder itself belongs to
train.py, which creates, checks and (with ``--overwrite``) deletes it.
"""

from __future__ import annotations

import csv
import math
import os
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import run_folder as rf

from .storage import collect_outputs, storage_seen

#: Children running now, so that Ctrl-C in the driver can stop them (see :func:`terminate_live`).
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
#: Set by :func:`terminate_live`: the grid is stopping, so no new child starts and none is retried.
_STOPPING = threading.Event()


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs; plain data, so it pickles to Ray and submitit workers."""

    label: str
    command: tuple[str, ...]
    cwd: str
    folders: tuple[str, ...]
    log: str
    env: tuple[tuple[str, str], ...] = ()
    retries: int = 2
    storage: str = ""  # --storage root the folders live under, when it is not the driver's --runs
    storage_token: str = ""  # what the storage's token file must say (grid/storage.py)
    return_outputs: bool = False  # hand the folders' small files back to the driver


@dataclass
class RunResult:
    """What a run hands back to the driver: small, picklable, enough for the progress line."""

    label: str
    ok: bool
    returncode: int
    attempts: int
    seconds: float
    log: str
    miou: float | None = None
    killed: bool = False
    env_seen: dict[str, str] = field(default_factory=dict)
    message: str = ""  # why a backend lost the run (a Ray or submitit error), when it did
    node: str = ""  # where it ran (Ray node id, Slurm host), when not on the driver's machine
    outputs: tuple[dict[str, bytes], ...] = ()  # per folder, when spec.return_outputs

    @property
    def error(self) -> str:
        """One line saying why the run failed (empty when it did not)."""
        if self.ok:
            return ""
        how = (
            f"killed by signal {-self.returncode}" if self.returncode < 0 else f"exit code {self.returncode}"
        )
        why = f" ({self.message})" if self.message else ""
        return f"{self.label}: {how} after {self.attempts} attempt(s){why}; log: {self.log}"


def child_env(extra: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The parent's environment plus the run's own settings (threads, CUDA_VISIBLE_DEVICES, ...)."""
    env = dict(os.environ)
    env.update(dict(extra))
    return env


def mean_test_miou(folders: tuple[str, ...]) -> float | None:
    """Headline metric: mean of the per-image ``miou`` of ``test_metrics.csv``, averaged over folders."""
    means = []
    for folder in folders:
        path = Path(folder) / rf.TEST_METRICS
        if not path.is_file():
            return None
        with path.open(newline="") as f:
            values = [float(row["miou"]) for row in csv.DictReader(f) if row.get("miou") not in (None, "")]
        if values:
            means.append(math.fsum(values) / len(values))
    return math.fsum(means) / len(means) if means else None


def launch(spec: RunSpec, attempt: int, log) -> int:
    """Run the command once, to completion, with its output appended to ``log``; its return code."""
    env = child_env(spec.env)
    with _LIVE_LOCK:
        if _STOPPING.is_set():
            return -2  # SIGINT: the grid was interrupted before this run started
    # Same process group as this worker on purpose (never start_new_session): see the module docstring.
    child = subprocess.Popen(list(spec.command), cwd=spec.cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.write(f"grid: attempt {attempt} pid {child.pid}: {shlex.join(spec.command)}\n".encode())
    log.flush()
    with _LIVE_LOCK:
        _LIVE.add(child)
        if _STOPPING.is_set():  # interrupted while it started
            child.terminate()
    try:
        return child.wait()
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(child)


def run_one(spec: RunSpec) -> RunResult:
    """Train the run (resume it if unfinished), retrying a killed child; never raises for a failed run."""
    if spec.storage_token:
        unseen = storage_seen(spec.storage, spec.storage_token)
        if unseen:
            return RunResult(spec.label, False, 2, 0, 0.0, spec.log, message=unseen)
    Path(spec.log).parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    code, attempt = 0, 0
    with open(spec.log, "ab") as log:
        for attempt in range(1, spec.retries + 2):
            code = launch(spec, attempt, log)
            if code >= 0 or attempt > spec.retries or _STOPPING.is_set():
                break
            log.write(
                f"grid: attempt {attempt} killed by signal {-code}; resuming from its checkpoint\n".encode()
            )
    ok = code == 0 and all(rf.is_finished(f) for f in spec.folders)
    seen = {k: os.environ[k] for k in ("CUDA_VISIBLE_DEVICES",) if k in os.environ}
    return RunResult(
        spec.label,
        ok,
        code,
        attempt,
        time.perf_counter() - start,
        spec.log,
        mean_test_miou(spec.folders) if ok else None,
        killed=code < 0,
        env_seen=seen,
        outputs=tuple(collect_outputs(f) for f in spec.folders) if ok and spec.return_outputs else (),
    )


def terminate_live(grace: float = 10.0) -> int:
    """Stop every child this process started (SIGTERM, then SIGKILL after ``grace`` s); how many.

    Also marks the grid as stopping, for good: a child stopped here is not retried and no new one
    starts in this process (:func:`reset_stop` undoes it, for tests and long-lived drivers).
    """
    with _LIVE_LOCK:
        _STOPPING.set()
        children = list(_LIVE)
    for child in children:
        child.terminate()
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return len(children)


def reset_stop() -> None:
    """Allow children again after :func:`terminate_live` (a new grid in the same process)."""
    _STOPPING.clear()
