"""eval.py on fabricated finished runs: values by hand, marks, missing and corrupt runs, figures, errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from fake_runs import write_processed, write_run

import eval as eval_cli
from common.run_folder import split_run_name
from evaluation import EvaluationError, evaluate
from evaluation.cost import bench_stamp, map_seconds, required_maps
from evaluation.naming import PAPER_METRICS
from evaluation.report import PAPER_TABLE
from evaluation.tables import load_paper_table, rank_marks

FOLD_IMAGES = {0: [0, 1, 2], 1: [3, 4, 5]}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """drive: ce, dice, spw on folds 0-1; focal fold 0 only; bce fold 0 corrupt; everything else missing."""
    root = tmp_path_factory.mktemp("eval")
    runs, data = root / "runs", root / "processed"
    per_fold = {
        "ce": {0: {"miou": [0.5, 0.6, 0.7], "vi": [1, 1, 1]}, 1: {"miou": [0.7, 0.8, 0.9], "vi": [2, 2, 2]}},
        "dice": {0: {"miou": [0.75] * 3, "vi": [1.2] * 3}, 1: {"miou": [0.75] * 3, "vi": [1.2] * 3}},
        "spw": {0: {"miou": [0.8] * 3, "vi": [1.0] * 3}, 1: {"miou": [0.8] * 3, "vi": [1.0] * 3}},
        "bce": {0: {"miou": [0.1] * 3}, 1: {"miou": [0.6] * 3}},
        "focal": {0: {"miou": [0.4] * 3}},
    }
    for name, folds in per_fold.items():
        for fold, values in folds.items():
            extra = {"fov_auc": [0.9, 0.8, 0.7]} if name == "ce" else None
            write_run(
                runs,
                "drive",
                name,
                0,
                fold,
                values,
                FOLD_IMAGES[fold],
                extra=extra,
                epoch_seconds=2.0 if name == "spw" else 1.0,
            )
    (runs / "drive" / "bce" / "seed0" / "fold0" / "config.json").write_text("{not json")
    write_processed(data, "drive", 6)
    out = root / "results" / "t"
    result = evaluate(runs, out, data_root=data, n_boot=200)
    table = pd.read_csv(out / "table1.csv").set_index(["dataset", "run_name"])
    return {"root": root, "runs": runs, "data": data, "out": out, "result": result, "table": table}


def test_table1_values_equal_hand_computation(workspace):
    ce = workspace["table"].loc[("drive", "ce")]
    # fold means 0.6 and 0.8 → mean 0.7, population std 0.1; VI fold means 1 and 2 → 1.5 ± 0.5
    assert ce["miou_mean"] == pytest.approx(0.7)
    assert ce["miou_std"] == pytest.approx(0.1)
    assert ce["vi_mean"] == pytest.approx(1.5)
    assert ce["vi_std"] == pytest.approx(0.5)
    assert ce["n_runs"] == 2
    md = (workspace["out"] / "table1.md").read_text()
    assert re.search(r"\| CE \| 0\.700±0\.100 \| \*\*0\.000±0\.000\*\* \| 1\.50±0\.50 \|", md)


def test_best_bold_second_underlined_vi_lower_is_better(workspace):
    table = workspace["table"]
    assert table.loc[("drive", "spw"), "miou_rank"] == 1
    assert table.loc[("drive", "dice"), "miou_rank"] == 2
    assert pd.isna(table.loc[("drive", "ce"), "miou_rank"])
    # VI: spw 1.0 < dice 1.2 < bce/focal 0.0? no: bce/focal have vi 0 → they are best; lower wins
    assert table.loc[("drive", "focal"), "vi_rank"] == 1
    assert table.loc[("drive", "spw"), "vi_rank"] == 2
    assert pd.isna(table.loc[("drive", "ce"), "vi_rank"])
    md = (workspace["out"] / "table1.md").read_text()
    assert "**0.800±0.000**" in md and "<u>0.750±0.000</u>" in md
    tex = (workspace["out"] / "table1.tex").read_text()
    assert r"\textbf{0.800$\pm$0.000}" in tex and r"\underline{1.00$\pm$0.00}" in tex


def test_rank_marks_ties_share_rank_and_direction():
    vi = PAPER_METRICS[2]
    assert rank_marks({"a": 1.0, "b": 1.001, "c": 2.0, "d": float("nan")}, vi) == {"a": 1, "b": 1, "c": 2}
    miou = PAPER_METRICS[0]
    assert rank_marks({"a": 0.5, "b": 0.7, "c": 0.6}, miou) == {"b": 1, "c": 2}


def test_missing_runs_are_dashes_with_warnings(workspace):
    md = (workspace["out"] / "table1.md").read_text()
    assert "| WCE | – | – | – | – |" in md
    assert "| SPW (label only) | – |" in md
    notes = workspace["result"].warnings
    assert "drive/wce: missing (no finished run)" in notes
    assert "drive/focal: missing seed0/fold1" in notes
    assert "drive/ce" not in " ".join(notes)
    assert "drive/focal: missing seed0/fold1" in (workspace["out"] / "warnings.txt").read_text()


def test_corrupt_run_is_reported_and_skipped(workspace):
    notes = workspace["result"].warnings
    assert any("corrupt" in n and "bce" in n and "config.json" in n for n in notes)
    bce = workspace["table"].loc[("drive", "bce")]
    assert bce["n_runs"] == 1 and bce["miou_mean"] == pytest.approx(0.6)


def test_versus_paper_difference(workspace):
    frame = pd.read_csv(workspace["out"] / "table1_vs_paper.csv")
    row = frame[(frame["run_name"] == "ce") & (frame["metric"] == "miou")].iloc[0]
    assert row["paper_mean"] == pytest.approx(0.765) and row["diff"] == pytest.approx(0.7 - 0.765)
    assert "-0.065" in (workspace["out"] / "table1_vs_paper.md").read_text()


def test_extended_table_lists_extra_columns(workspace):
    frame = pd.read_csv(workspace["out"] / "metrics_extended.csv")
    auc = frame[(frame["metric"] == "fov_auc") & (frame["run_name"] == "ce")].iloc[0]
    assert auc["mean"] == pytest.approx(0.8) and auc["n_runs"] == 2
    assert {"mhd", "vi_split", "vi_merge", "fov_auc"} <= set(frame["metric"])
    assert "miou" not in set(frame["metric"])


def test_cost_table_ratio_to_ce(workspace):
    frame = pd.read_csv(workspace["out"] / "table3.csv").set_index("run_name")
    assert frame.loc["spw", "epoch_seconds_median"] == pytest.approx(2.0)
    assert frame.loc["spw", "ratio_to_ce"] == pytest.approx(2.0)
    assert frame.loc["ce", "peak_memory_mib"] == pytest.approx(1.0)
    assert "| fwd+bwd ms |" in (workspace["out"] / "table3.md").read_text()  # no bench csv: one "–" column


def test_leaderboard_written_against_spw(workspace):
    frame = pd.read_csv(workspace["out"] / "leaderboard.csv")
    row = frame[(frame["run_name"] == "ce") & (frame["metric"] == "miou")].iloc[0]
    # run means: fold0 ce 0.6 vs spw 0.8, fold1 0.8 vs 0.8 → Δ = ce − spw = −0.1 over 2 paired runs
    assert row["n_paired_runs"] == 2 and row["delta"] == pytest.approx(-0.1)
    assert json.loads((workspace["out"] / "leaderboard.json").read_text())["reference"] == "spw"
    assert (workspace["out"] / "runs" / "drive" / "ce" / "seed0" / "fold1" / "test_metrics.csv").is_file()


def test_figures_written_and_non_empty(workspace):
    figures = workspace["out"] / "figures"
    for name in ("qualitative_drive.png", "curves_drive.png", "table1_bars_drive.png"):
        path = figures / name
        assert path.is_file() and path.stat().st_size > 1000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_refuses_to_overwrite_then_replaces(workspace, tmp_path):
    out = tmp_path / "res"
    evaluate(
        workspace["runs"],
        out,
        data_root=workspace["data"],
        n_boot=50,
        datasets=["drive"],
        losses=["ce", "spw"],
    )
    with pytest.raises(EvaluationError, match="--overwrite"):
        evaluate(workspace["runs"], out, data_root=workspace["data"], n_boot=50)
    evaluate(workspace["runs"], out, data_root=workspace["data"], n_boot=50, overwrite=True, losses=["ce"])
    assert "SPW" not in (out / "table1.md").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["res"]  # no temp or old folder left behind


def test_cli_errors_exit_non_zero(workspace, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:  # checked up front, before anything is written
        eval_cli.main(["--runs", str(tmp_path / "absent"), "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2 and "absent: not a folder" in capsys.readouterr().err
    assert (
        eval_cli.main(["--runs", str(workspace["runs"]), "--profile", "paper", "--out", str(tmp_path / "o")])
        == 1
    )
    assert "no finished run" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_writes_results(workspace, tmp_path, capsys):
    code = eval_cli.main(
        [
            "--runs",
            str(workspace["runs"]),
            "--out",
            str(tmp_path / "o"),
            "--data-root",
            str(workspace["data"]),
            "--datasets",
            "drive",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert str(tmp_path / "o") in captured.out
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert (
        manifest["command"].startswith("python eval.py") and len(manifest["runs"]) == 8
    )  # ce, dice, spw ×2 + focal + bce fold1


def test_map_seconds_and_required_maps():
    meta = {"maps": {"wce": {"seconds": 1.5}, "abw": {"seconds": 2.0}}}
    assert map_seconds(meta, ("wce", "abw")) == pytest.approx(3.5)
    assert map_seconds(meta, ()) == 0.0
    assert np.isnan(map_seconds(meta, ("skea_topo",))) and np.isnan(map_seconds(None, None))
    assert required_maps("ce") == ()


def test_split_run_name():
    assert split_run_name("spw+use_prediction=False") == ("spw", {"use_prediction": "False"})
    assert split_run_name("tversky+alpha=0.5,beta=0.5") == ("tversky", {"alpha": "0.5", "beta": "0.5"})
    assert split_run_name("ce+0.5*dice") == ("ce+0.5*dice", {})  # a sum: no run-name keywords
    with pytest.raises(ValueError, match="k1=v1"):
        split_run_name("spw+a=1,oops")


def test_paper_table_matches_spec():
    """configs/paper_table1.csv holds docs/METHOD.md §8's Table 1, value for value."""
    spec = PAPER_TABLE.parents[2] / "shared" / "spec" / "PAPER_SPEC.md"
    if not spec.is_file():
        pytest.skip(f"{spec} not found")
    paper = load_paper_table(PAPER_TABLE)
    section = spec.read_text().split("## 8.")[1].split("Table 3")[0]
    names = {"SNEMI3D": "snemi3d", "GlaS": "glas", "DRIVE": "drive"}
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()]
    rows = [r for r in rows if len(r) == 6 and r[0] in names]
    assert len(rows) == len(paper) == 36
    for r in rows:
        loss = {"Skea-topo": "skea_topo"}.get(r[1], r[1].lower())
        for cell, m in zip(r[2:], PAPER_METRICS):
            mean, std = (float(x) for x in cell.split("±"))
            assert paper.loc[(names[r[0]], loss), f"{m.key}_mean"] == mean
            assert paper.loc[(names[r[0]], loss), f"{m.key}_std"] == std


def test_bench_stamp_names_the_environment_not_the_per_row_timings():
    bench = pd.DataFrame(
        {
            "loss": ["ce", "spw"],
            "device": "cpu",
            "batch": 4,
            "height": 192,
            "width": 192,
            "median_ms": [5.6, 31.4],
            "ratio_to_ce": [1.0, 5.6],
            "min_ms": [3.5, 20.1],
            "repeats": 5,
            "device_name": "AMD EPYC",
            "torch": "2.14.1",
            "threads": [1, 2],
        }
    )
    text = bench_stamp(bench)
    assert "min_ms" not in text and "3.5" not in text
    # a constant column once; a mixed one shows both values, so mixed machines stay visible
    assert "device_name=AMD EPYC" in text and "threads=1; 2" in text


def test_table1_caption_states_seeds_times_folds():
    import pandas as pd

    from evaluation.tables import table1_caption

    frame = pd.DataFrame({"n_runs": [9, 9, 3, 0], "n_seeds": [3, 3, 1, 0]})
    caption = table1_caption(frame)
    assert "runs per cell: 3 (1 seed × 3 folds), 9 (3 seeds × 3 folds)." in caption


def test_qualitative_figure_uses_a_split_whose_runs_kept_their_predictions(workspace, tmp_path):
    """Committed runs keep only small files: fold 0 without CE's predictions → the figure comes from fold 1."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(workspace["runs"], runs)
    shutil.rmtree(runs / "drive" / "ce" / "seed0" / "fold0" / "predictions")
    result = evaluate(
        runs, tmp_path / "res", data_root=workspace["data"], n_boot=20, losses=["ce", "dice", "spw"]
    )
    assert not [n for n in result.warnings if "qualitative" in n]
    assert (tmp_path / "res" / "figures" / "qualitative_drive.png").stat().st_size > 1000
    shutil.rmtree(runs / "drive" / "ce" / "seed0" / "fold1" / "predictions")  # no split has them all now
    result = evaluate(
        runs, tmp_path / "res2", data_root=workspace["data"], n_boot=20, losses=["ce", "dice", "spw"]
    )
    assert any(
        "qualitative figure skipped" in n and "fold0/predictions/000.png" in n for n in result.warnings
    )


def test_balanced_ce_is_compared_with_the_papers_bce_row(tmp_path):
    """The paper names class-balanced CE "BCE": run name balanced_ce (and old folders named bce) meet that row."""
    runs = tmp_path / "runs"
    for name in ("balanced_ce", "ce"):
        write_run(runs, "drive", name, 0, 0, {"miou": [0.70, 0.72]})
    evaluate(runs, tmp_path / "res", data_root=tmp_path, n_boot=20)
    frame = pd.read_csv(tmp_path / "res" / "table1_vs_paper.csv")
    row = frame[(frame["run_name"] == "balanced_ce") & (frame["metric"] == "miou")].iloc[0]
    paper = load_paper_table(PAPER_TABLE).loc[("drive", "bce")]
    assert row["paper_mean"] == pytest.approx(paper["miou_mean"]) and row["diff"] == pytest.approx(
        0.71 - 0.747
    )
