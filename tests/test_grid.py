"""The benchmark grid (grid/): the same smoke runs on every backend give the same test metrics as
train.py run alone; a killed run resumes to the same metrics; a failing run is reported with its log.

Every run here is a ``smoke`` run on ``synth-drive`` (prepared once per session in a tmp dir) with
``--epochs 6`` so that a run lasts long enough to be killed between two checkpoints.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from common import run_folder as rf
from grid import backends, cli
from grid.plan import LABEL_ONLY_SPW, Job, expand_losses, train_commands
from grid.progress import Progress, log_report, log_segments
from grid.run_one import RunResult, RunSpec, mean_test_miou, run_one
from grid.storage import RETURNED_FIRST, RETURNED_LAST, deposit_outputs, mark_storage

REPO_ROOT = Path(__file__).resolve().parents[1]
EPOCHS = ["--epochs", "6"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """synth-drive prepared once (no maps: ce needs none)."""
    top = tmp_path_factory.mktemp("grid_data")
    cmd = [
        sys.executable,
        "data/prepare.py",
        "--dataset",
        "synth-drive",
        "--maps",
        "none",
        "--raw-root",
        str(top / "raw"),
        "--out-root",
        str(top / "processed"),
        "--no-progress",
    ]
    subprocess.run(cmd, cwd=REPO_ROOT, env=ENV, check=True, capture_output=True)
    return top / "processed"


@pytest.fixture(scope="session")
def reference(data_root, tmp_path_factory) -> str:
    """test_metrics.csv of ce, fold 0, trained by train.py alone (the one-by-one reference)."""
    runs = tmp_path_factory.mktemp("grid_reference")
    cmd = [
        sys.executable,
        "train.py",
        "--loss",
        "ce",
        "--dataset",
        "synth-drive",
        "--data-root",
        str(data_root),
        "--profile",
        "smoke",
        "--fold",
        "0",
        "--out",
        str(runs),
        "--no-progress",
        *EPOCHS,
    ]
    subprocess.run(cmd, cwd=REPO_ROOT, env=ENV, check=True, capture_output=True)
    return (runs / "synth-drive" / "ce" / "seed0" / "fold0" / "test_metrics.csv").read_text()


def grid_argv(data_root: Path, runs: Path, *extra: str, losses=("ce",), folds=("0",)) -> list[str]:
    return [
        "--profile",
        "smoke",
        "--datasets",
        "synth-drive",
        "--losses",
        *losses,
        "--folds",
        *folds,
        "--data-root",
        str(data_root),
        "--runs",
        str(runs),
        "--no-eval",
        "--train-args",
        " ".join(EPOCHS),
        "--cpus-per-run",
        "1",  # the reference ran with one thread: thread counts change float sums
        *extra,
    ]


def metrics(runs: Path, loss: str = "ce", fold: int = 0) -> str:
    return (runs / "synth-drive" / loss / "seed0" / f"fold{fold}" / "test_metrics.csv").read_text()


# ----------------------------------------------------------------------------- fast, no training


def test_threads_share_the_cores_without_oversubscription():
    assert backends.threads_per_run(2, cores=16) == 8
    assert backends.threads_per_run(3, cores=16) == 5  # 15 threads on 16 cores, never 18
    assert backends.threads_per_run(4, cores=2) == 1  # more workers than cores: one thread each
    with pytest.raises(ValueError, match="--workers"):
        backends.threads_per_run(0, cores=2)


def test_plugin_losses_pass_through_unchanged(tmp_path):
    assert expand_losses(["my_pkg.my_loss:MyLoss", "ce"], ["ce"]) == ["my_pkg.my_loss:MyLoss", "ce"]
    sums = ["ce+0.5*dice", "dice+focal[gamma=2.5]", "ce+dice"]
    assert expand_losses([*sums, "spw+use_prediction=False"], ["spw"]) == [*sums, "spw+use_prediction=False"]
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        expand_losses(["nope+alpha=1"], ["ce"])
    ((_, cmd),) = train_commands("py", [Job("d", "ce+0.5*dice", 0, 0)], "smoke", tmp_path, tmp_path)
    assert cmd[cmd.index("--loss") + 1] == "ce+0.5*dice" and "--loss-kwargs" not in cmd
    ((jobs, cmd),) = train_commands(
        "py", [Job("d", "my_pkg.my_loss:MyLoss", 0, 1)], "smoke", tmp_path, tmp_path
    )
    assert cmd[cmd.index("--loss") + 1] == "my_pkg.my_loss:MyLoss" and "--loss-kwargs" not in cmd
    # one process per fold for parallel workers, one --fold all process for one worker
    full = [Job("d", LABEL_ONLY_SPW, 0, f) for f in (0, 1, 2)]
    assert len(train_commands("py", full, "smoke", tmp_path, tmp_path, group_folds=False)) == 3


def test_grid_log_sits_beside_the_run_folder(tmp_path):
    folder = tmp_path / "d" / "ce" / "seed0"
    assert cli.grid_log_path([folder / "fold1"]) == folder / "fold1.grid.log"
    assert cli.grid_log_path([folder / f"fold{k}" for k in range(3)]) == folder / "fold0-1-2.grid.log"


def test_progress_counts_eta_and_log(tmp_path):
    lines = []
    progress = Progress(5, workers=2, log_path=tmp_path / "grid.log", stream=_Lines(lines))
    progress.finished(RunResult("a", True, 0, 1, 10.0, "a.log", miou=0.25))
    progress.finished(RunResult("b", True, 0, 1, 30.0, "b.log", miou=None))
    progress.finished(RunResult("c", False, 3, 1, 1.0, "c.log"))
    assert progress.eta() == 20.0 * 1  # mean 20 s × ceil(2 left / 2 workers)
    assert "ok     a  0m10s  test mIoU 0.2500" in lines[0] and "done 1, running 0, failed 0" in lines[0]
    assert "FAILED c: exit code 3 after 1 attempt(s); log: c.log" in lines[2] and "ETA 0m20s" in lines[2]
    assert (tmp_path / "grid.log").read_text().count("\n") == 3
    # 41 s of runs (the failed one included) on 2 workers over 25 s of wall time
    assert progress.efficiency(25.0) == pytest.approx(41.0 / 50.0)
    assert progress.summary(25.0).endswith(
        "runs took 0m41s of 2 worker(s) × 0m25s: scheduler efficiency 0.820"
    )
    cluster = Progress(1, workers=2, stream=_Lines([]), fixed_slots=False)
    cluster.finished(RunResult("a", True, 0, 1, 10.0, "a.log"))
    assert cluster.efficiency(5.0) is None and cluster.summary(5.0) == "grid: 1 done, 0 failed of 1 in 0m05s"


def test_run_one_retries_a_killed_child_but_not_an_error(tmp_path):
    folder = tmp_path / "run"
    # killed by a signal on its first attempt (no marker yet), succeeds on the second
    script = (
        f"import os, pathlib, signal; p = pathlib.Path({str(tmp_path / 'marker')!r})\n"
        "if not p.exists(): p.touch(); os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed_once = RunSpec(
        "k", (sys.executable, "-c", script), str(tmp_path), (), str(tmp_path / "k.log"), retries=2
    )
    result = run_one(killed_once)
    assert (
        result.ok and result.attempts == 2 and "killed by signal 9; resuming" in Path(result.log).read_text()
    )
    failing = RunSpec(
        "e",
        (sys.executable, "-c", "raise SystemExit(3)"),
        str(tmp_path),
        (str(folder),),
        str(tmp_path / "e.log"),
        retries=2,
    )
    result = run_one(failing)
    assert not result.ok and result.attempts == 1 and result.returncode == 3 and "log: " in result.error
    always_killed = RunSpec(
        "x",
        (sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"),
        str(tmp_path),
        (),
        str(tmp_path / "x.log"),
        retries=1,
    )
    result = run_one(always_killed)
    assert not result.ok and result.attempts == 2 and result.killed


def test_mean_test_miou_averages_the_column(tmp_path):
    (tmp_path / "test_metrics.csv").write_text("index,id,miou\n0,a,0.5\n1,b,0.25\n")
    assert mean_test_miou((str(tmp_path),)) == pytest.approx(0.375)
    assert mean_test_miou((str(tmp_path / "absent"),)) is None


class _Lines:
    def __init__(self, lines):
        self.lines = lines

    def write(self, text):
        if text.strip():
            self.lines.append(text)

    def flush(self):
        pass


# ----------------------------------------------------------------------------- real runs


@pytest.mark.slow
def test_local_pool_equals_train_py_alone_and_skips_finished(data_root, reference, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert cli.main(grid_argv(data_root, runs, "--workers", "2", folds=("0", "1"))) == 0
    assert metrics(runs) == reference
    out = capsys.readouterr().out
    assert "[2/2] ok" in out and "test mIoU" in out and (runs / cli.GRID_LOG).is_file()
    assert cli.main(grid_argv(data_root, runs, "--workers", "2", "--dry-run", folds=("0", "1"))) == 0
    assert "2 finished, 0 to run" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "ray"])
def test_killed_run_is_retried_and_resumes_to_the_same_metrics(backend, data_root, reference, tmp_path):
    if backend == "ray":
        pytest.importorskip("ray")
    extra = ["--ray-tmp", tempfile.mkdtemp(prefix="rg", dir="/tmp")] if backend == "ray" else []
    runs = tmp_path / "runs"
    folder = runs / "synth-drive" / "ce" / "seed0" / "fold0"
    log = folder.parent / "fold0.grid.log"
    killer = threading.Thread(target=_kill_after_first_checkpoint, args=(folder, log), daemon=True)
    killer.start()
    assert cli.main(grid_argv(data_root, runs, "--retries", "2", "--backend", backend, *extra)) == 0
    killer.join(5)
    text = log.read_text()
    # local: run_one retries the killed child; ray: the task raises RunKilled and Ray retries the task
    assert len(re.findall(r"grid: attempt \d+ pid", text)) == 2  # one killed start, one resumed start
    assert "resum" in (folder / "train.log").read_text().lower()
    assert metrics(runs) == reference


def _kill_after_first_checkpoint(folder: Path, log: Path, timeout: float = 120.0) -> None:
    """SIGKILL the run's train.py (pid from the grid log) once last.pt exists and before it finishes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (folder / "last.pt").is_file():
        time.sleep(0.05)
    pid = int(log.read_text().split("grid: attempt 1 pid ")[1].split(":")[0])
    os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_failing_run_is_reported_with_its_log_and_finished_runs_kept(data_root, reference, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert cli.main(grid_argv(data_root, runs)) == 0
    # a loss argument the loss rejects inside train.py: an error exit, not retried
    argv = grid_argv(data_root, runs, "--workers", "2", losses=("ce", "focal+gamma=-1"))
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    bad_log = runs / "synth-drive" / "focal+gamma=-1.0" / "seed0" / "fold0.grid.log"
    assert f"synth-drive/focal+gamma=-1.0/seed0/fold0: exit code 2 after 1 attempt(s); log: {bad_log}" in err
    text = bad_log.read_text()
    assert text.count("grid: attempt") == 1 and "gamma must be 0 or >= 1" in text  # train.py's own error
    assert metrics(runs) == reference  # the finished run was skipped, not redone


@pytest.mark.slow
def test_embedded_ray_equals_train_py_alone_and_leaves_no_process(data_root, reference, tmp_path):
    pytest.importorskip("ray")
    ray_tmp = tempfile.mkdtemp(prefix="rg", dir="/tmp")  # short: Ray's Unix socket paths
    runs = tmp_path / "runs"
    assert cli.main(grid_argv(data_root, runs, "--backend", "ray", "--ray-tmp", ray_tmp)) == 0
    assert metrics(runs) == reference
    assert _processes_mentioning(ray_tmp) == []


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def gpu_probe(spec: RunSpec) -> RunResult:
    """A tiny Ray task: records when it ran and which GPU Ray gave it."""
    start = time.time()
    time.sleep(1.0)
    env = {
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "span": f"{start} {time.time()}",
    }
    return RunResult(spec.label, True, 0, 1, 1.0, spec.log, env_seen=env)


@pytest.mark.slow
def test_ray_fake_gpus_run_at_most_two_gpu_runs_at_once(tmp_path):
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(
        sys.modules[__name__]
    )  # Ray workers cannot import this test file
    ray_tmp = tempfile.mkdtemp(prefix="rg", dir="/tmp")
    specs = [RunSpec(f"r{i}", (), str(tmp_path), (), str(tmp_path / f"{i}.log")) for i in range(5)]
    opts = backends.RayOptions(cpus_per_run=0.5, gpus_per_run=1, num_cpus=4, num_gpus=2, temp_dir=ray_tmp)
    results = backends.run_ray(specs, opts, on_done=lambda r: None, task=gpu_probe)
    assert all(r.ok for r in results), [r.error for r in results]
    spans = [tuple(map(float, r.env_seen["span"].split())) for r in results]
    most = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
    assert most == 2  # 4 CPUs would allow 4 at once: the 2 fake GPUs limit it
    assert {r.env_seen["CUDA_VISIBLE_DEVICES"] for r in results} == {"0", "1"}
    assert _processes_mentioning(ray_tmp) == []


@pytest.mark.slow
def test_submitit_local_executor_equals_train_py_alone(data_root, reference, tmp_path):
    pytest.importorskip("submitit")
    runs = tmp_path / "runs"
    argv = grid_argv(
        data_root,
        runs,
        "--backend",
        "slurm",
        "--slurm-cluster",
        "local",
        "--slurm-folder",
        str(tmp_path / "submitit"),
    )
    assert cli.main(argv) == 0
    assert metrics(runs) == reference


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, code, said",
    [(signal.SIGINT, 130, b"interrupted"), (signal.SIGTERM, 143, b"stopped by SIGTERM")],
    ids=["ctrl-c", "sigterm"],
)
def test_ctrl_c_or_sigterm_stops_the_grid_and_leaves_no_child(data_root, tmp_path, sig, code, said):
    runs = tmp_path / "runs"
    argv = grid_argv(data_root, runs, "--workers", "2", folds=("0", "1"))
    grid = subprocess.Popen(
        [sys.executable, "scripts/run_benchmark.py", *argv],
        cwd=REPO_ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # a test session started in the background (`make test &`) inherits SIGINT ignored, and Python
        # then never raises KeyboardInterrupt: give the runner the terminal's default, as Ctrl-C meets it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    log = runs / "synth-drive" / "ce" / "seed0" / "fold0.grid.log"
    # generous: on a loaded 2-core machine the runner's start (imports, data checks) has taken over 2 minutes
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and "grid: attempt 1 pid" not in (
        log.read_text() if log.is_file() else ""
    ):
        assert grid.poll() is None, f"the grid exited ({grid.returncode}) before its first run started"
        time.sleep(0.05)
    assert log.is_file() and "grid: attempt 1 pid" in log.read_text(), "no run started within 10 minutes"
    child = int(log.read_text().split("grid: attempt 1 pid ")[1].split(":")[0])
    grid.send_signal(sig)  # SIGINT: what Ctrl-C sends; SIGTERM: `kill`, the way to stop a grid run with `&`
    _, err = grid.communicate(timeout=180)
    assert grid.returncode == code and said in err and b"Traceback" not in err
    assert (
        not Path(f"/proc/{child}").exists() or b"zombie" in Path(f"/proc/{child}/status").read_bytes().lower()
    )


# ----------------------------------------------------------------------------- --storage and clusters


def test_a_run_that_cannot_see_the_storage_token_is_refused_before_it_starts(tmp_path):
    storage = tmp_path / "storage"
    token = mark_storage(storage)
    assert mark_storage(storage) == token  # the same token on every later grid
    witness = tmp_path / "started"
    command = (sys.executable, "-c", f"open({str(witness)!r}, 'w').close()")
    spec = RunSpec("x", command, str(tmp_path), (), str(tmp_path / "x.log"), storage=str(storage))
    refused = run_one(replace(spec, storage_token="another driver's token"))
    assert not refused.ok and refused.attempts == 0 and not witness.exists()
    assert f"--storage {storage} is not the driver's" in refused.error and token in refused.error
    missing = run_one(replace(spec, storage=str(tmp_path / "elsewhere"), storage_token=token))
    assert not missing.ok and "unreadable" in missing.error and not witness.exists()
    assert run_one(replace(spec, storage_token=token)).attempts == 1 and witness.exists()


def test_returned_files_never_land_outside_the_run_folder(tmp_path):
    with pytest.raises(ValueError, match="outside the run folder"):
        deposit_outputs({"../escape.txt": b"x"}, tmp_path / "run")
    deposit_outputs({"config.json": b"{}", "predictions/a.png": b"png"}, tmp_path / "run")
    assert (tmp_path / "run" / "predictions" / "a.png").read_bytes() == b"png"


@pytest.mark.slow
def test_storage_elsewhere_returns_small_outputs_to_runs(data_root, reference, tmp_path, capsys):
    runs, storage = tmp_path / "runs", tmp_path / "storage"
    assert cli.main(grid_argv(data_root, runs, "--storage", str(storage))) == 0
    here, there = (root / "synth-drive" / "ce" / "seed0" / "fold0" for root in (runs, storage))
    assert metrics(runs) == reference and rf.is_finished(here) and rf.is_finished(there)
    assert (there / "last.pt").is_file() and not list(here.glob("*.pt"))  # checkpoints stay in storage
    returned = sorted(p.relative_to(here).as_posix() for p in here.rglob("*") if p.is_file())
    assert set(returned) == {*RETURNED_FIRST, *RETURNED_LAST, *_relative_pngs(there)}
    assert all((here / name).read_bytes() == (there / name).read_bytes() for name in returned)
    # a driver stopped before timing.json was returned: the next grid returns the files, trains nothing
    (here / rf.TIMING).unlink()
    assert cli.main(grid_argv(data_root, runs, "--storage", str(storage))) == 0
    assert rf.is_finished(here) and metrics(runs) == reference
    assert (there / rf.TRAIN_LOG).read_text().count("epoch") == (here / rf.TRAIN_LOG).read_text().count(
        "epoch"
    )
    capsys.readouterr()
    assert cli.main(grid_argv(data_root, runs, "--storage", str(storage), "--dry-run")) == 0
    assert "1 finished, 0 to run" in capsys.readouterr().out


def _relative_pngs(folder: Path) -> list[str]:
    return [p.relative_to(folder).as_posix() for p in (folder / rf.PREDICTIONS).glob("*.png")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_node(env: dict[str, str], temp_dir: str, *where: str) -> subprocess.Popen:
    """``ray start --block`` of one node in its own process group (stopped by its pid group afterwards)."""
    ray_cli = str(Path(sys.executable).with_name("ray"))
    cmd = [
        ray_cli,
        "start",
        "--block",
        *where,
        "--num-cpus",
        "1",
        "--temp-dir",
        temp_dir,
        "--object-store-memory",
        str(100 * 2**20),
        "--dashboard-agent-listen-port",
        str(_free_port()),
        "--disable-usage-stats",
    ]
    log = open(Path(temp_dir) / "node.log", "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _alive_nodes(env: dict[str, str], address: str) -> int:
    code = "import ray; ray.init(address=%r, logging_level='ERROR'); print(len([n for n in ray.nodes() if n['Alive']]))"
    out = subprocess.run([sys.executable, "-c", code % address], env=env, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) if out.returncode == 0 and out.stdout.split() else 0


@pytest.mark.slow
def test_two_node_ray_cluster_runs_a_smoke_grid_on_both_nodes(data_root, reference, tmp_path):
    """``ray start --head`` and ``ray start --address`` on this machine, each with its own temp dir and
    1 CPU; the benchmark command joins with ``--address`` and its two runs land on the two nodes."""
    pytest.importorskip("ray")
    token = tmp_path / "ray_token"
    token.write_text(secrets.token_hex(32))  # Ray >= 2.59 authenticates cluster members by token
    env = {**ENV, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    head_tmp, worker_tmp = (tempfile.mkdtemp(prefix=p, dir="/tmp") for p in ("rh", "rw"))
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head_args = ("--head", "--port", str(port), "--include-dashboard=false")
    head_args += ("--ray-client-server-port", str(_free_port()))
    nodes = [_ray_node(env, head_tmp, *head_args)]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _alive_nodes(env, address) < 1:
            time.sleep(1)
        nodes.append(_ray_node(env, worker_tmp, "--address", address))
        while time.monotonic() < deadline and _alive_nodes(env, address) < 2:
            time.sleep(1)
        assert _alive_nodes(env, address) == 2, (Path(worker_tmp) / "node.log").read_text()[-2000:]
        runs = tmp_path / "runs"
        argv = grid_argv(data_root, runs, "--backend", "ray", "--address", address, folds=("0", "1"))
        grid = subprocess.run(
            [sys.executable, "scripts/run_benchmark.py", *argv],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert grid.returncode == 0, grid.stderr[-2000:]
        assert metrics(runs) == reference
        assert len(set(re.findall(r"test mIoU [\d.]+ +on (\w+)", grid.stdout))) == 2, grid.stdout
    finally:
        for node in nodes:
            _stop_group(node)
    assert _processes_mentioning(head_tmp) == [] and _processes_mentioning(worker_tmp) == []


def _stop_group(node: subprocess.Popen) -> None:
    """SIGTERM the node's process group (``ray start --block`` stops what it started), SIGKILL leftovers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(node.pid, sig)
        except ProcessLookupError:
            return
        try:
            node.wait(20)
        except subprocess.TimeoutExpired:
            continue
        time.sleep(2)


def test_first_line_names_workers_here_or_the_cluster(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    def parse(argv):
        return cli.build_parser().parse_args(["--datasets", "synth-drive", *argv])

    local = parse(["--workers", "3"])
    assert cli.where_runs_go(local) == "on local with 3 worker(s)"
    assert (
        cli.where_runs_go(parse(["--backend", "ray", "--address", "h:6379"]))
        == "on the Ray cluster at h:6379"
    )
    monkeypatch.setenv("RAY_ADDRESS", "e:1")
    assert cli.where_runs_go(parse(["--backend", "ray"])) == "on the Ray cluster at e:1"
    slurm = cli.where_runs_go(parse(["--backend", "slurm", "--slurm-cluster", "local"]))
    assert slurm == "as Slurm jobs (submitit executor: local)"
    # only a pool started here has --workers slots, so only it reports a scheduler efficiency
    assert [cli.on_cluster(parse(a)) for a in (["--backend", "ray"], ["--backend", "slurm"])] == [True, True]
    monkeypatch.delenv("RAY_ADDRESS")
    assert [cli.on_cluster(parse(a)) for a in (["--backend", "ray"], ["--workers", "2"])] == [False, False]


def test_log_segments_measure_the_efficiency_of_past_grids(tmp_path):
    """grid.log → one segment per local-pool invocation; cluster grids and other lines are skipped."""
    log = "\n".join(
        [
            "2026-12-05 05:00:00 grid: 3 train.py runs on local with 2 worker(s), 1 thread(s) each",
            "2026-12-05 05:02:00 [1/3] ok     d/ce/seed0/fold0  2m00s  test mIoU 0.7 | done 1",
            "2026-12-05 05:02:30 [2/3] ok     d/ce/seed0/fold1  2m30s  test mIoU 0.7 | done 2",
            "2026-12-05 05:03:00 [3/3] FAILED d/ce/seed0/fold2: exit code 1 | done 2, failed 1",
            "2026-12-05 05:03:00 grid: 2 done, 1 failed of 3 in 3m00s",
            "2026-12-05 06:00:00 grid: 1 train.py runs on the Ray cluster at h:1, 1 thread(s) each",
            "2026-12-05 06:10:00 [1/1] ok     d/ce/seed1/fold0  10m00s  test mIoU 0.7 | done 1",
            "2026-12-05 07:00:00 grid: 2 train.py runs on ray with 1 worker(s), 1 thread(s) each",
            "2026-12-05 08:05:00 [1/2] ok     d/ce/seed2/fold0  1h05m  test mIoU 0.7 | done 1",
        ]
    )
    first, second = log_segments(log)
    assert (first.workers, first.planned, first.runs, first.busy, first.wall) == (2, 3, 3, 270.0, 180.0)
    assert first.efficiency == pytest.approx(270 / 360)
    assert (second.workers, second.runs, second.busy, second.wall, second.efficiency) == (1, 1, 3900, 3900, 1)
    (tmp_path / "grid.log").write_text(log)
    report = log_report(tmp_path / "grid.log")
    assert "| 2026-12-05 05:00:00 | 2 | 3 / 3 | 3m00s | 4m30s | 0.750 |" in report
    assert report.rstrip().endswith(f"| all | | 4 | | 1h09m | {(270 + 3900) / (360 + 3900):.3f} |")
    (tmp_path / "cluster.log").write_text(log.splitlines()[5] + "\n")
    with pytest.raises(ValueError, match="no local-pool grid"):
        log_report(tmp_path / "cluster.log")
    with pytest.raises(ValueError, match="cannot read"):
        log_report(tmp_path / "none.log")
