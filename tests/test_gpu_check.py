"""scripts/gpu_check.py (issue 19 item 6): its CPU run (--allow-cpu --quick), its files and its no-CUDA exit.

The CPU run compares the CPU with itself, so its errors are 0 by construction; what the tests check
is the files' contract, the arithmetic of the figures (ratio, grid projection) and the tolerance rule.
"""

from __future__ import annotations

import json

import pytest
import torch

from losses import LOSSES
from scripts import gpu_check

FILES = ("loss_parity", "amp_smoke", "step_ratio", "epoch_times")
ENV_KEYS = {"torch", "cuda", "device", "device_name", "git_commit", "python", "threads"}


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    """One ``--allow-cpu --quick`` run (about 20 s on one core: two train.py and one prepare.py subprocess)."""
    out = tmp_path_factory.mktemp("gpu") / "results"
    code = gpu_check.main(["--allow-cpu", "--quick", "--out", str(out)])
    return code, out, {name: json.loads((out / f"{name}.json").read_text()) for name in FILES}


def test_cpu_run_passes_and_writes_every_file(cpu_run):
    code, out, results = cpu_run
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f"{n}.json" for n in FILES), "SUMMARY.md"])
    for payload in results.values():
        assert set(payload["environment"]) == ENV_KEYS
        assert payload["environment"]["torch"] == torch.__version__


def test_loss_parity_covers_every_registered_loss(cpu_run):
    parity = cpu_run[2]["loss_parity"]
    labels = [r["loss"] for r in parity["rows"]]
    assert labels == [*LOSSES, "spw+use_prediction=False", "skea_topo@epoch21"]
    keys = {"value_cpu", "value_device", "value_abs_err", "value_rel_err", "grad_max_abs_err", "grad_rel_err"}
    for row in parity["rows"]:
        assert keys <= set(row)
        assert row["value_abs_err"] == 0.0 and row["grad_max_abs_err"] == 0.0  # CPU against CPU
        assert row["passed"]
    assert parity["passed"] and parity["dtype"] == "float32"


def test_amp_smoke_run_finished_with_finite_metrics(cpu_run):
    amp = cpu_run[2]["amp_smoke"]
    assert amp["returncode"] == 0 and amp["passed"]
    assert amp["amp_effective"] is False  # --amp is ignored, with a warning, on the CPU
    assert set(amp["test_means"]) == {"miou", "mdice", "vi", "ari"}
    assert 0.0 <= amp["test_means"]["miou"] <= 1.0 and amp["test_images"] >= 1


def test_step_ratio_is_the_ratio_of_the_medians(cpu_run):
    ratio = cpu_run[2]["step_ratio"]
    med = ratio["median_seconds"]
    assert med["ce"] > 0 and med["spw"] > 0
    assert ratio["spw_over_ce"] == pytest.approx(med["spw"] / med["ce"], rel=1e-12)


def test_epoch_times_projection_follows_its_formula(cpu_run):
    ep = cpu_run[2]["epoch_times"]
    assert ep["data"] == "synthetic" and list(ep["sets"]) == ["synth-drive"]
    # (registered losses + label-only SPW) x 3 folds x 3 seeds x 50 epochs; 13 x 450 = 5850 for the paper's 12
    assert ep["runs_per_set"] == (len(LOSSES) + 1) * 450
    seconds = ep["sets"]["synth-drive"]["epoch_seconds"]
    assert seconds > 0
    assert ep["grid_hours"] == pytest.approx(seconds * ep["runs_per_set"] / 3600, rel=1e-12)
    shapes = ep["paper_shapes"]
    assert set(shapes["sets"]) == {"drive", "glas", "snemi3d", "isbi2012"}
    glas = shapes["sets"]["glas"]  # 88 training images, batch 10 -> 9 steps
    assert glas["epoch_seconds"] == pytest.approx(9 * glas["step_seconds"], rel=1e-12)
    assert shapes["grid_hours"] == pytest.approx(sum(v["grid_hours"] for v in shapes["sets"].values()))


def test_summary_has_one_section_per_check(cpu_run):
    text = (cpu_run[1] / "SUMMARY.md").read_text()
    for head in ("## (a) Loss values and gradients, device vs CPU: PASS", "## (b) AMP smoke run: PASS",
                 "## (c) SPW / CE training-step time: ", "## (d) Paper-profile epoch"):  # fmt: skip
        assert head in text
    assert all(f"| {name} |" in text for name in LOSSES)
    assert f"{cpu_run[2]['step_ratio']['spw_over_ce']:.3f}" in text


def test_compare_applies_the_tolerances():
    g_cpu = torch.tensor([1.0, -4.0], dtype=torch.float64)
    one = torch.tensor(2.0, dtype=torch.float64)
    ok = gpu_check.compare("x", one, g_cpu, one * (1 + 5e-5), g_cpu + torch.tensor([0.0, 2e-3]))
    assert ok["value_rel_err"] == pytest.approx(5e-5) and ok["grad_rel_err"] == pytest.approx(2e-3 / 4)
    assert ok["passed"]
    value_off = gpu_check.compare("x", one, g_cpu, one * (1 + 3e-4), g_cpu)  # 3e-4 > 1e-4
    grad_off = gpu_check.compare("x", one, g_cpu, one, g_cpu + torch.tensor([0.0, 0.01]))  # 0.01 / 4 > 1e-3
    assert not value_off["passed"] and not grad_off["passed"]
    assert grad_off["grad_max_abs_err"] == pytest.approx(0.01)


def test_without_cuda_it_says_so_and_writes_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path / "gpu")]) == 0
    assert "no CUDA device available" in capsys.readouterr().out
    assert not (tmp_path / "gpu").exists()


@pytest.mark.parametrize("size", ["100", "8", "0"])
def test_size_must_be_a_multiple_of_16(size):
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--size", size])
