"""eval.py's leaderboard on fabricated runs: schema, reference choice, regeneration from the copied runs."""

from __future__ import annotations

import copy
import json

import jsonschema
import pandas as pd
import pytest
from fake_runs import write_run

import eval as eval_cli
from evaluation import evaluate
from evaluation.leaderboard import validate
from evaluation.statistics import StatisticsError

# run score of loss L on (seed s, fold f) = BASE[L] + 0.01·s + 0.02·f; 2 images per run
BASE = {"ce": 0.60, "dice": 0.70, "spw": 0.75}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb") / "runs"
    for name, base in BASE.items():
        for seed in (0, 1):
            for fold in (0, 1):
                v = base + 0.01 * seed + 0.02 * fold
                write_run(
                    root,
                    "drive",
                    name,
                    seed,
                    fold,
                    {"miou": [v - 0.01, v + 0.01], "vi": [2 - v, 2 - v], "ari": [v, v], "mdice": [v, v]},
                    indices=[2 * fold, 2 * fold + 1],
                )
    return root


def test_reference_ce_leaderboard_validates_and_orders(runs, tmp_path):
    out = tmp_path / "res"
    evaluate(runs, out, n_boot=100, reference="ce", data_root=tmp_path / "none")
    board = json.loads((out / "leaderboard.json").read_text())
    validate(board)
    assert board["reference"] == "ce"
    assert [e["run_name"] for e in board["overall"]] == ["spw", "dice", "ce"]
    spw = next(e for e in board["entries"] if e["run_name"] == "spw")
    assert spw["n_runs"] == 4 and spw["n_seeds"] == 2 and spw["profile"] == "smoke"
    # Δ = 0.15 on every run: constant differences, t = inf, p = 0 (scipy); VI Δ is positive too
    assert spw["metrics"]["miou"]["delta"] == pytest.approx(0.15)
    assert spw["metrics"]["vi"]["delta"] == pytest.approx(0.15)
    assert spw["metrics"]["vi"]["rank"] == 1
    assert spw["metrics"]["miou"]["sd_seed"] == pytest.approx(
        0.01 / 2**0.5
    )  # sample sd (ddof 1) of {0, 0.01}
    assert spw["metrics"]["miou"]["sd_fold"] == pytest.approx(0.02 / 2**0.5)
    ce = next(e for e in board["entries"] if e["run_name"] == "ce")
    assert ce["metrics"]["miou"]["delta"] is None and ce["metrics"]["miou"]["p_ttest"] is None
    md = (out / "leaderboard.md").read_text()
    assert "**0.7" in md and "reference" in md and "2/2^4" in md
    for name in ("forest_drive.png", "dots_drive.png", "cd_miou.png", "cd_vi.png", "rank_stability.png"):
        assert (out / "figures" / name).stat().st_size > 1000, name


def test_schema_rejects_a_broken_document(runs, tmp_path):
    out = tmp_path / "res"
    evaluate(runs, out, n_boot=50, data_root=tmp_path / "none")
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["reference"] == "spw"  # default: spw when present
    broken = copy.deepcopy(board)
    broken["entries"][0]["metrics"]["miou"]["p_ttest"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)
    del broken["statistics"]
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_copied_runs_regenerate_the_same_tables(runs, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert (
        eval_cli.main(
            [
                "--runs",
                str(runs),
                "--out",
                str(first),
                "--n-boot",
                "60",
                "--data-root",
                str(empty_dir(tmp_path)),
            ]
        )
        == 0
    )
    assert (
        eval_cli.main(
            [
                "--runs",
                str(first / "runs"),
                "--out",
                str(second),
                "--n-boot",
                "60",
                "--data-root",
                str(empty_dir(tmp_path)),
            ]
        )
        == 0
    )
    for name in ("leaderboard.csv", "table1.csv", "table3.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(first / name), pd.read_csv(second / name))


def test_compare_prints_every_run_delta(runs, tmp_path, capsys):
    code = eval_cli.main(
        [
            "--runs",
            str(runs),
            "--out",
            str(tmp_path / "o"),
            "--n-boot",
            "50",
            "--compare",
            "dice",
            "ce",
            "--data-root",
            str(empty_dir(tmp_path)),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "dice vs ce" in text and "n = 4 runs" in text and "Δ = +0.1000" in text
    assert "s1f1 +0.1000" in text


def test_unknown_reference_and_mismatched_folds_fail_clearly(runs, tmp_path):
    with pytest.raises(StatisticsError, match="reference 'bce' has no run"):
        evaluate(runs, tmp_path / "x", n_boot=20, reference="bce", data_root=tmp_path / "none")
    bad = tmp_path / "bad"
    write_run(bad, "drive", "ce", 0, 0, {"miou": [0.5, 0.6]}, indices=[0, 1])
    write_run(bad, "drive", "spw", 0, 0, {"miou": [0.5, 0.6]}, indices=[0, 7])
    assert eval_cli.main(["--runs", str(bad), "--out", str(tmp_path / "y"), "--n-boot", "20"]) == 1
    assert not (tmp_path / "y").exists()


def empty_dir(tmp_path):
    """An existing --data-root without processed sets (the qualitative figure is then skipped)."""
    folder = tmp_path / "none"
    folder.mkdir(exist_ok=True)
    return folder


def test_also_reference_writes_a_second_leaderboard_that_equals_a_separate_evaluation(runs, tmp_path):
    """--also-reference ce: leaderboard_vs_ce.* equals leaderboard.* of an evaluation with --reference ce."""
    none = empty_dir(tmp_path)
    both, alone = tmp_path / "both", tmp_path / "alone"
    common = ["--runs", str(runs), "--n-boot", "50", "--data-root", str(none)]
    assert (
        eval_cli.main([*common, "--out", str(both), "--reference", "spw", "--also-reference", "ce", "spw"])
        == 0
    )
    assert eval_cli.main([*common, "--out", str(alone), "--reference", "ce"]) == 0
    assert not (both / "leaderboard_vs_spw.md").exists()  # the main reference is not written twice
    for suffix in ("csv", "md", "tex"):
        assert (both / f"leaderboard_vs_ce.{suffix}").read_text() == (
            alone / f"leaderboard.{suffix}"
        ).read_text()
    versus_ce = json.loads((both / "leaderboard_vs_ce.json").read_text())
    validate(versus_ce)
    assert versus_ce["reference"] == "ce"
    assert versus_ce["entries"] == json.loads((alone / "leaderboard.json").read_text())["entries"]
    assert json.loads((both / "leaderboard.json").read_text())["reference"] == "spw"


def test_unknown_also_reference_is_refused_before_anything_is_written(runs, tmp_path, capsys):
    out = tmp_path / "x"
    with pytest.raises(SystemExit) as stop:
        eval_cli.main(["--runs", str(runs), "--out", str(out), "--also-reference", "dcie"])
    assert stop.value.code == 2 and not out.exists()
    assert "--also-reference dcie" in capsys.readouterr().err


def test_a_metric_tied_on_every_run_gives_a_null_friedman_test(tmp_path):
    """All run names equal on every run: Friedman's statistic is undefined → null in valid JSON, not a crash."""
    root = tmp_path / "runs"
    for name in ("ce", "spw", "dice"):
        for fold in (0, 1):
            write_run(root, "drive", name, 0, fold, {"miou": [0.5, 0.5]}, indices=[2 * fold, 2 * fold + 1])
    evaluate(root, tmp_path / "res", n_boot=20, data_root=empty_dir(tmp_path))
    board = json.loads((tmp_path / "res" / "leaderboard.json").read_text())
    validate(board)
    miou = next(f for f in board["friedman"] if f["metric"] == "miou")
    assert miou["statistic"] is None and miou["p"] is None
