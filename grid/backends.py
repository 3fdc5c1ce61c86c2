"""Where the runs of a grid execute: ``local`` (default), ``ray`` and ``slurm`` (submitit).

Each backend takes the same :class:`~grid.run_one.RunSpec` list, calls the same
:func:`~grid.run_one.run_one` once per run, and reports each :class:`~grid.run_one.RunResult` to
``on_done`` as it arrives (issue 15 §1). Ray and submitit are optional extras; a clear message
says how to install them when missing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

from .run_one import RunResult, RunSpec, reset_stop, run_one, terminate_live

REPO_ROOT = Path(__file__).resolve().parents[1]
OnDone = Callable[[RunResult], None]
OnStart = Callable[[RunSpec], None]
OnPoll = Callable[[], None]  # called while waiting (the driver counts running runs by their locks)


class BackendUnavailable(RuntimeError):
    """An optional backend whose package is not installed."""


class RunKilled(RuntimeError):
    """A run whose trainer was killed by a signal: it resumes from its checkpoint, so Ray may retry it."""


def threads_per_run(workers: int, cores: int | None = None) -> int:
    """Torch/OpenMP threads of each run: the machine's cores shared by the workers, at least 1.

    Workers × threads never exceeds the cores (no oversubscription) unless there are more workers
    than cores, where each run still needs one thread.
    """
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // workers)


def thread_env(threads: int) -> tuple[tuple[str, str], ...]:
    """Environment that sets torch's intra-op threads in the child (torch reads OMP_NUM_THREADS)."""
    return (("OMP_NUM_THREADS", str(threads)), ("MKL_NUM_THREADS", str(threads)))


def with_repo_on_path(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with the repository first on PYTHONPATH, for worker processes."""
    env = dict(os.environ if env is None else env)
    parts = [str(REPO_ROOT), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    return env


# ----------------------------------------------------------------------------- local


def run_local(
    specs: list[RunSpec], workers: int, on_done: OnDone, on_start: OnStart | None = None
) -> list[RunResult]:
    """A standard-library thread pool of ``workers`` threads, each waiting on its run's child process.

    Threads, not processes: the work happens in the children, and a thread cannot die and break the
    pool the way a process-pool worker can. Ctrl-C cancels the runs not started, stops the running
    children (no child is left behind) and re-raises; finished runs stay finished.
    """
    results: list[RunResult] = []
    reset_stop()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grid")
    try:
        pending = set()
        for spec in specs:
            pending.add(pool.submit(_started, spec, on_start))
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                results.append(future.result())
                on_done(results[-1])
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        terminate_live()
        raise
    pool.shutdown(wait=True)
    return results


def _started(spec: RunSpec, on_start: OnStart | None) -> RunResult:
    if on_start is not None:
        on_start(spec)
    return run_one(spec)


# ----------------------------------------------------------------------------- ray


@dataclass(frozen=True)
class RayOptions:
    """Ray resources per run and how to reach Ray (embedded when ``address`` is None)."""

    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    memory_per_run: int | None = None  # bytes
    address: str | None = None
    num_cpus: int | None = None  # embedded only
    num_gpus: int | None = None  # embedded only; may be fake (tests)
    temp_dir: str | None = None  # embedded only; keep short (Unix socket paths)
    retries: int = 2


def ray_task(spec: RunSpec) -> RunResult:
    """The body of one Ray task: one attempt; a killed trainer raises :class:`RunKilled` so Ray retries it."""
    result = run_one(replace(spec, retries=0))
    if result.killed:
        raise RunKilled(result.error)
    import ray

    result.node = ray.get_runtime_context().get_node_id()[:12]
    return result


def _import_ray():
    try:
        import ray
    except ImportError as err:
        raise BackendUnavailable("--backend ray needs Ray: pip install 'ray>=2.50'") from err
    return ray


def ray_init(ray, opts: RayOptions) -> bool:
    """Start embedded Ray or join ``opts.address``/RAY_ADDRESS; True when this call started Ray.

    A cluster that cannot be reached raises :class:`BackendUnavailable` naming the address.
    """
    if ray.is_initialized():
        return False
    runtime_env = {"env_vars": {"PYTHONPATH": with_repo_on_path()["PYTHONPATH"]}}
    address = opts.address or os.environ.get("RAY_ADDRESS")
    if address:
        reachable(address, "--address" if opts.address else "RAY_ADDRESS")
        try:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            flag = "--address" if opts.address else "RAY_ADDRESS"
            raise BackendUnavailable(f"{flag} {address}: cannot join the Ray cluster ({err})") from None
    else:
        ray.init(
            num_cpus=opts.num_cpus,
            num_gpus=opts.num_gpus,
            include_dashboard=False,
            _temp_dir=opts.temp_dir,
            runtime_env=runtime_env,
            log_to_driver=False,
        )
    return True


def reachable(address: str, flag: str, timeout: float = 5.0) -> None:
    """A ``host:port`` (or ``ray://host:port``) that accepts TCP connections, else BackendUnavailable at once
    (``ray.init`` itself keeps retrying for minutes). ``auto`` and ``local`` are left to Ray."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        if address in ("auto", "local"):
            return
        raise BackendUnavailable(f"{flag} {address}: expected host:port, ray://host:port, auto or local")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise BackendUnavailable(
            f"{flag} {address}: no Ray head answers there ({err.strerror or err})"
        ) from None


def connect(backend: str, opts: RayOptions) -> bool:
    """Before anything is written: start or join Ray for ``--backend ray`` (True when started here,
    so :func:`disconnect` shuts it down); other backends need no connection."""
    if backend != "ray":
        return False
    return ray_init(_import_ray(), opts)


def disconnect(started: bool) -> None:
    if started:
        _import_ray().shutdown()


def ray_remote(ray, opts: RayOptions):
    """The Ray task of one run with its resources and retry policy (issue 15 §1, §3)."""
    resources = {"num_cpus": opts.cpus_per_run, "num_gpus": opts.gpus_per_run}
    if opts.memory_per_run:
        resources["memory"] = opts.memory_per_run
    # max_retries: lost workers/nodes; retry_exceptions: only RunKilled, whose run resumes safely.
    return ray.remote(ray_task).options(**resources, max_retries=opts.retries, retry_exceptions=[RunKilled])


def run_ray(
    specs: list[RunSpec], opts: RayOptions, on_done: OnDone, task=None, on_poll: OnPoll | None = None
) -> list[RunResult]:
    """One Ray task per run; results reported as they finish; Ray started here is shut down afterwards.

    ``task`` replaces :func:`ray_task` (tests use a tiny task to check GPU scheduling).
    """
    ray = _import_ray()
    started = ray_init(ray, opts)
    try:
        remote = (
            ray_remote(ray, opts)
            if task is None
            else ray.remote(task).options(num_cpus=opts.cpus_per_run, num_gpus=opts.gpus_per_run)
        )
        refs = {remote.remote(spec): spec for spec in specs}
        results = []
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1, timeout=2.0)
            if not done:
                if on_poll is not None:
                    on_poll()
                continue
            spec = refs.pop(done[0])
            results.append(_ray_result(ray, done[0], spec))
            on_done(results[-1])
        return results
    finally:
        if started:
            ray.shutdown()


def _ray_result(ray, ref, spec: RunSpec) -> RunResult:
    try:
        return ray.get(ref)
    except (RunKilled, ray.exceptions.RayError) as err:
        code = -9 if isinstance(err, RunKilled) else 1
        message = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        return RunResult(spec.label, False, code, 0, 0.0, spec.log, killed=code < 0, message=message)


# ----------------------------------------------------------------------------- slurm (submitit)


@dataclass(frozen=True)
class SlurmOptions:
    """submitit settings: one job per run (``cluster="local"`` runs them as local processes, for tests)."""

    folder: str
    cluster: str | None = None  # None: Slurm when sbatch exists, else local
    partition: str | None = None
    timeout_min: int = 60
    cpus_per_run: int = 1
    gpus_per_run: int = 0
    mem_gb: float | None = None


def slurm_executor(opts: SlurmOptions):
    """A submitit AutoExecutor with the run's resources."""
    try:
        import submitit
    except ImportError as err:
        raise BackendUnavailable("--backend slurm needs submitit: pip install submitit") from err
    executor = submitit.AutoExecutor(folder=opts.folder, cluster=opts.cluster)
    params = {
        "timeout_min": opts.timeout_min,
        "cpus_per_task": opts.cpus_per_run,
        "gpus_per_node": opts.gpus_per_run,
    }
    if opts.mem_gb:
        params["mem_gb"] = opts.mem_gb
    if opts.partition:
        params["slurm_partition"] = opts.partition
    executor.update_parameters(**params)
    return executor


def slurm_task(spec: RunSpec) -> RunResult:
    """The body of one submitit job: :func:`run_one`, stamped with the host it ran on."""
    import socket

    result = run_one(spec)
    result.node = socket.gethostname()
    return result


def run_slurm(
    specs: list[RunSpec],
    opts: SlurmOptions,
    on_done: OnDone,
    poll: float = 1.0,
    on_poll: OnPoll | None = None,
) -> list[RunResult]:
    """Submit one job per run (a Slurm job array via ``executor.batch()``) and wait for them all."""
    executor = slurm_executor(opts)
    os.environ["PYTHONPATH"] = with_repo_on_path()["PYTHONPATH"]  # the job processes import grid
    with executor.batch():
        jobs = [executor.submit(slurm_task, spec) for spec in specs]
    pending = dict(zip(jobs, specs))
    results = []
    while pending:
        for job in [j for j in pending if j.done()]:
            spec = pending.pop(job)
            try:
                results.append(job.result())
            except (
                Exception
            ) as err:  # a job that died outside run_one (timeout, preemption): rerun resumes it
                results.append(
                    RunResult(spec.label, False, 1, 1, 0.0, spec.log, message=f"{type(err).__name__}: {err}")
                )
            on_done(results[-1])
        if pending:
            if on_poll is not None:
                on_poll()
            time.sleep(poll)
    return results
