"""scripts/run_benchmark.py: the plan, skip-and-resume logic and dry run, without training anything."""

from __future__ import annotations

import json
import sys

import pytest
from fake_runs import write_run

from grid import cli
from grid import plan as grid_plan
from scripts import demo
from scripts.run_benchmark import (
    LABEL_ONLY_SPW,
    Job,
    bench_arguments,
    estimate_seconds,
    expand_losses,
    job_action,
    main,
    maps_needed,
    plan_jobs,
    prepare_commands,
    prepare_reasons,
    train_commands,
)

REGISTERED = ["ce", "bce", "wce", "spw"]
REQUIRED = {"ce": (), "bce": (), "wce": ("wce",), "spw": ()}


@pytest.fixture
def fake_registry(monkeypatch):
    """The runner's view of losses.LOSSES, fixed so these tests do not depend on which losses exist yet."""
    monkeypatch.setattr(cli, "registry", lambda: (REGISTERED, REQUIRED))


def test_expand_losses_all_adds_label_only_spw():
    assert expand_losses(["all"], REGISTERED) == [*REGISTERED, LABEL_ONLY_SPW]
    assert expand_losses(["spw", "ce", "spw"], REGISTERED) == ["spw", "ce"]
    with pytest.raises(ValueError, match="unknown loss 'dcie'"):
        expand_losses(["dcie"], REGISTERED)


def test_plan_order_and_size():
    jobs = plan_jobs(["a", "b"], ["ce", "spw"], [0, 1], [0, 1, 2])
    assert len(jobs) == 2 * 2 * 2 * 3
    assert jobs[:4] == [
        Job("a", "ce", 0, 0),
        Job("a", "ce", 0, 1),
        Job("a", "ce", 0, 2),
        Job("a", "spw", 0, 0),
    ]


def test_job_action_skip_resume_restart_fresh_conflict(tmp_path):
    runs = tmp_path / "runs"
    finished = write_run(runs, "d", "ce", 0, 0, {"miou": [0.5]})
    assert job_action(finished, "smoke") == "skip"
    assert job_action(finished, "cpu") == "conflict"  # the fake runs are smoke runs
    stopped = runs / "d" / "spw" / "seed0" / "fold0"
    stopped.mkdir(parents=True)
    (stopped / "config.json").write_text(json.dumps({"profile": "smoke"}))
    assert job_action(stopped, "smoke") == "restart"
    (stopped / "last.pt").write_bytes(b"x")
    assert job_action(stopped, "smoke") == "resume"
    assert job_action(runs / "d" / "bce" / "seed0" / "fold0", "smoke") == "fresh"


def test_train_commands_group_folds_and_always_resume(tmp_path):
    full = [Job("drive", LABEL_ONLY_SPW, 1, f) for f in (0, 1, 2)]
    partial = [Job("drive", "ce", 1, 0), Job("drive", "ce", 1, 2)]  # fold 1 already finished
    commands = train_commands("py", full + partial, "cpu", tmp_path / "p", tmp_path / "r")
    assert [jobs for jobs, _ in commands] == [full, partial[:1], partial[1:]]
    cmd = commands[0][1]
    assert cmd[:4] == ["py", "train.py", "--loss", "spw"]
    assert cmd[cmd.index("--loss-kwargs") + 1] == "use_prediction=False"
    for flag, value in (
        ("--dataset", "drive"),
        ("--fold", "all"),
        ("--seed", "1"),
        ("--profile", "cpu"),
        ("--out", str(tmp_path / "r")),
        ("--data-root", str(tmp_path / "p")),
    ):
        assert cmd[cmd.index(flag) + 1] == value
    assert [c[c.index("--fold") + 1] for _, c in commands[1:]] == ["0", "2"]
    assert all("--resume" in c and "--overwrite" not in c for _, c in commands)
    with pytest.raises(ValueError, match="train.py's form"):
        train_commands("py", [Job("d", "tversky+beta=1,alpha=2", 0, 0)], "cpu", tmp_path, tmp_path)


def test_maps_and_prepare(tmp_path):
    assert maps_needed(["ce", "wce", LABEL_ONLY_SPW], REQUIRED) == ["wce"]
    root = tmp_path / "drive"
    assert prepare_reasons(root, ["wce"], [0]) == [f"{root / 'metadata.json'} missing"]
    root.mkdir()
    (root / "metadata.json").write_text(json.dumps({"maps": {"wce": {"seconds": 1.0}}}))
    (root / "splits.json").write_text(json.dumps({"splits": {"0": []}}))
    assert prepare_reasons(root, ["wce"], [0, 1]) == ["map wce missing", "split seed 1 missing"]
    (root / "maps" / "wce").mkdir(parents=True)
    assert prepare_reasons(root, ["wce"], [0]) == []
    cmds = prepare_commands("py", "drive", tmp_path / "raw", tmp_path, [], [0, 1])
    assert len(cmds) == 2 and cmds[1][-2:] == ["--seed", "1"]
    assert cmds[0][cmds[0].index("--maps") + 1] == "none"


def test_estimate_prefers_measured_times():
    job = Job("drive", "ce", 0, 0)
    assert estimate_seconds(job, "cpu", {}) == grid_plan.DEFAULT_RUN_SECONDS[("cpu", "drive")]
    assert estimate_seconds(job, "cpu", {("drive", "spw"): [10.0, 30.0]}) == 20.0
    assert estimate_seconds(job, "cpu", {("drive", "ce"): [5.0], ("drive", "spw"): [99.0]}) == 5.0


def test_dry_run_lists_and_resumes_after_stop(tmp_path, capsys, fake_registry):
    runs, data = tmp_path / "runs", tmp_path / "processed"
    write_run(runs, "synth-drive", "ce", 0, 0, {"miou": [0.5]})  # finished (smoke)
    stopped = runs / "synth-drive" / "spw" / "seed0" / "fold0"
    stopped.mkdir(parents=True)
    (stopped / "last.pt").write_bytes(b"x")  # stopped mid-run
    argv = [
        "--profile",
        "smoke",
        "--datasets",
        "synth-drive",
        "--losses",
        "ce",
        "spw",
        "--folds",
        "0",
        "1",
        "--runs",
        str(runs),
        "--data-root",
        str(data),
        "--dry-run",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 runs; 1 finished, 3 to run, 0 in conflict" in out
    assert f"skip     {runs / 'synth-drive' / 'ce' / 'seed0' / 'fold0'}" in out
    assert f"resume   {stopped}" in out
    assert f"fresh    {runs / 'synth-drive' / 'spw' / 'seed0' / 'fold1'}" in out
    assert "prepare synth-drive" in out
    assert not (tmp_path / "results").exists() and not data.exists()  # a dry run writes nothing


def test_unknown_loss_exits_non_zero(tmp_path, capsys, fake_registry):
    assert main(["--datasets", "synth-drive", "--losses", "nope", "--runs", str(tmp_path), "--dry-run"]) == 2
    assert "unknown loss 'nope'" in capsys.readouterr().err


def test_unknown_data_set_or_bad_seed_is_refused_before_planning(tmp_path, capsys, fake_registry):
    runs = tmp_path / "runs"
    assert main(["--datasets", "drvie", "--losses", "ce", "--runs", str(runs), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "unknown --datasets data set 'drvie'" in err and "Did you mean 'drive'?" in err
    assert main(["--datasets", "drive", "--seeds", "-1", "--runs", str(runs), "--dry-run"]) == 2
    assert "--seeds must be in [0, 2**32)" in capsys.readouterr().err
    assert not runs.exists()


def test_demo_uses_the_runner_with_demo_profile():
    args = demo.benchmark_args(all_losses=False)
    assert args[args.index("--profile") + 1] == "demo"
    assert args[args.index("--losses") + 1 : args.index("--seeds")] == ["ce", "spw"]
    assert str(demo.RESULTS) == "results/demo" and sys.executable


def test_bench_times_the_losses_at_the_profiles_training_shape():
    from training.config import load_profile

    assert bench_arguments(load_profile("cpu")) == ["--sizes", "4x192x192"]
    assert bench_arguments({"batch_size": 10, "crop": [256, 320]}) == ["--sizes", "10x256x320"]
    # no crop: whole images of data-set-dependent size; bench_losses keeps its default sizes
    assert bench_arguments({"batch_size": 10, "crop": None}) == []
    # every row of the grid, sums included, with the runs' threads
    rows = ["ce", "ce+dice+skeleton_recall"]
    assert bench_arguments({"batch_size": 2, "crop": [8, 8]}, rows, 1) == [
        "--sizes",
        "2x8x8",
        "--losses",
        "ce,ce+dice+skeleton_recall",
        "--threads",
        "1",
    ]


def test_standing_prints_the_overall_ranking(tmp_path):
    from grid.cli import standing

    board = tmp_path / "leaderboard.md"
    board.write_text(
        "# Leaderboard\n\nintro\n\n## Overall (mean rank)\n\n| # | Loss |\n| 1 | SPW |\n\n## DRIVE — mIoU\n\nrows\n"
    )
    text = standing(board)
    assert "| 1 | SPW |" in text and "DRIVE" not in text and str(board) in text
    assert "no leaderboard" in standing(tmp_path / "missing.md")
