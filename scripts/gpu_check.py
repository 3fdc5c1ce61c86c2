"""One prepared GPU check (issue 19 item 6): CUDA against CPU, AMP smoke run, SPW cost, epoch times.

Writes ``<out>/{loss_parity,amp_smoke,step_ratio,epoch_times}.json`` (each stamped with torch,
CUDA, device name and git commit) and ``<out>/SUMMARY.md``:

- (a) ``loss_parity``: every registered loss (plus the label-only SPW row and Skea-topo with its
  BoRT term on) on the same float32 inputs on CUDA and on CPU: value and gradient w.r.t. the
  logits, max abs/rel errors, pass when ``rel ≤ tolerance``. Targets are ISBI 2012 membranes when
  ``<raw-root>/ISBI2012`` exists, Voronoi membranes otherwise; maps and class weights come from
  the CPU target (the helpers of ``scripts/bench_losses.py``).
- (b) ``amp_smoke``: ``train.py --loss spw --dataset synth-drive --profile smoke --amp`` on data
  prepared by ``data/prepare.py`` in a temporary folder; finishes, train loss and Table 1 metrics finite.
- (c) ``step_ratio``: SPW / CE time of one training step (forward, backward, clipping, Adam) of
  the paper's U-Net (width 64, 1 input channel) at batch 2 × size², median over warm steps,
  CUDA-synchronised.
- (d) ``epoch_times``: one paper-profile epoch (CE, ``train.py --epochs 1``, the ``epoch_seconds``
  of log.csv) per real data set present under ``--raw-root``, or per synthetic replica when none
  is; the full grid is projected as Σ_sets epoch_seconds × runs_per_set with runs_per_set =
  (registered losses + the label-only SPW row) × 3 folds × 3 seeds × 50 epochs. A second
  projection times CE training steps at the real sets' paper shapes (batch 10) on random data.

Without CUDA it prints a message and exits 0, writing nothing, unless ``--allow-cpu``: then
everything runs on the CPU at a tiny size (``--quick`` sizes, synthetic data only).

    python scripts/gpu_check.py --out results/gpu            # on a CUDA machine, < 8 minutes
    python scripts/gpu_check.py --allow-cpu --quick --out /tmp/gpu   # the test's CPU run
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from data.registry import DATASETS
from losses import LOSSES, build_loss
from models import UNet
from scripts.bench_losses import default_raw_root, make_maps, membrane_targets
from training.device import device_name, synchronize

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Rows of (a): registered name, constructor kwargs, epoch passed to ``set_epoch``.
PARITY_ROWS = [(n, {}, 0) for n in LOSSES] + [("spw", {"use_prediction": False}, 0), ("skea_topo", {}, 21)]
VALUE_RTOL, GRAD_RTOL = 1e-4, 1e-3  # relative to |value| and to max |gradient| on the CPU
#: Paper shapes per real set: input channels, training H, W, training images per fold (METHOD.md §4.5).
PAPER_SHAPES = {"drive": (3, 608, 576, 21), "glas": (3, 448, 576, 88), "snemi3d": (1, 512, 512, 53),
                "isbi2012": (1, 512, 512, 16)}  # fmt: skip
GRID = {"folds": 3, "seeds": 3, "epochs": 50}
TABLE1 = ("miou", "mdice", "vi", "ari")


def environment(device: torch.device) -> dict:
    """Stamp of each JSON: torch, CUDA, device name, git commit, python, threads."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "device": device.type,
            "device_name": device_name(device), "git_commit": commit, "python": platform.python_version(),
            "threads": torch.get_num_threads()}  # fmt: skip


def loss_inputs(batch: int, size: int, raw_root: Path, names: set[str]) -> tuple:
    """Seeded float32 logits, int64 membrane targets and the CPU maps (numpy → torch)."""
    targets, source = membrane_targets(batch, size, size, raw_root)
    maps = {k: torch.from_numpy(v) for k, v in make_maps(targets, names).items()}
    logits = torch.randn(batch, 2, size, size, generator=torch.Generator().manual_seed(0))
    return logits, torch.from_numpy(targets.astype("int64")), maps, source


def value_and_grad(name: str, kwargs: dict, epoch: int, logits, target, maps, device) -> tuple:
    loss = build_loss(name, **kwargs)
    loss.set_epoch(epoch)
    x = logits.to(device, copy=True).requires_grad_()  # a fresh leaf: no gradient shared between runs
    value = loss(x, target.to(device), {k: v.to(device) for k, v in maps.items()})
    value.backward()
    return value.detach().double().cpu(), x.grad.double().cpu()


def compare(label: str, v_cpu, g_cpu, v_dev, g_dev) -> dict:
    """Errors of the device's value and gradient against the CPU's; pass within the tolerances."""
    v_abs, g_abs = float((v_dev - v_cpu).abs()), float((g_dev - g_cpu).abs().max())
    v_rel, g_rel = v_abs / max(float(v_cpu.abs()), 1e-12), g_abs / max(float(g_cpu.abs().max()), 1e-30)
    return {"loss": label, "value_cpu": float(v_cpu), "value_device": float(v_dev), "value_abs_err": v_abs,
            "value_rel_err": v_rel, "grad_max_abs_err": g_abs, "grad_rel_err": g_rel,
            "passed": v_rel <= VALUE_RTOL and g_rel <= GRAD_RTOL}  # fmt: skip


def loss_parity(device: torch.device, size: int, raw_root: Path) -> dict:
    """(a) every loss on ``device`` against the CPU, float32."""
    names = {m for n, _, _ in PARITY_ROWS for m in LOSSES[n].required_maps}
    logits, target, maps, source = loss_inputs(2, size, raw_root, names)
    rows = []
    for name, kwargs, epoch in PARITY_ROWS:
        v_cpu, g_cpu = value_and_grad(name, kwargs, epoch, logits, target, maps, torch.device("cpu"))
        v_dev, g_dev = value_and_grad(name, kwargs, epoch, logits, target, maps, device)
        label = name + "".join(f"+{k}={v}" for k, v in kwargs.items()) + (f"@epoch{epoch}" if epoch else "")
        rows.append(compare(label, v_cpu, g_cpu, v_dev, g_dev))
    return {"shape": [2, 2, size, size], "dtype": "float32", "target": source, "value_rtol": VALUE_RTOL,
            "grad_rtol": GRAD_RTOL, "rows": rows, "passed": all(r["passed"] for r in rows)}  # fmt: skip


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    """A repository script in a subprocess (cwd = repo root), output captured."""
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True)


def prepare(names: list[str], raw_root: Path, out_root: Path) -> None:
    """``data/prepare.py`` without maps (CE and SPW need none); raises with its stderr on failure."""
    proc = run_cli(["data/prepare.py", "--dataset", *names, "--raw-root", str(raw_root), "--out-root",
                    str(out_root), "--maps", "none", "--workers", "1", "--no-progress"])  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"data/prepare.py {' '.join(names)} failed:\n{proc.stderr[-2000:]}")


def train(loss: str, dataset: str, profile: str, device: torch.device, root: Path, extra: list[str]) -> tuple:
    """``train.py`` on fold 0, seed 0; returns (return code, run folder, stderr tail)."""
    runs = root / "runs"
    proc = run_cli(["train.py", "--loss", loss, "--dataset", dataset, "--profile", profile, "--device",
                    device.type, "--data-root", str(root / "processed"), "--out", str(runs),
                    "--no-progress", *extra])  # fmt: skip
    return proc.returncode, runs / dataset / loss / "seed0" / "fold0", proc.stderr[-2000:]


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def amp_smoke(device: torch.device, root: Path) -> dict:
    """(b) SPW smoke run with ``--amp`` (ignored with a warning on CPU)."""
    rc, folder, err = train("spw", "synth-drive", "smoke", device, root, ["--amp"])
    result = {
        "command": "train.py --loss spw --dataset synth-drive --profile smoke --amp --device " + device.type,
        "returncode": rc,
        "amp_effective": device.type == "cuda",
    }
    if rc != 0 or not (folder / "test_metrics.csv").is_file():
        return {**result, "passed": False, "stderr_tail": err}
    losses = [float(r["train_loss"]) for r in read_csv(folder / "log.csv")]
    tests = read_csv(folder / "test_metrics.csv")
    metrics = {k: statistics.fmean(float(r[k]) for r in tests) for k in TABLE1}
    finite = all(math.isfinite(v) for v in [*losses, *metrics.values()])
    return {
        **result,
        "train_loss": losses,
        "test_means": metrics,
        "test_images": len(tests),
        "passed": finite,
    }


def step_times(
    model, x, target, maps, losses: list[str], warmup: int, repeats: int
) -> dict[str, list[float]]:
    """Seconds of forward + backward + clipping + Adam step per loss, round-robin, synchronised."""
    fns = {name: build_loss(name) for name in losses}
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times: dict[str, list[float]] = {name: [] for name in losses}
    for i in range(warmup + repeats):
        for name, fn in fns.items():
            synchronize(x.device)
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            fn(model(x), target, maps).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            synchronize(x.device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def random_batch(batch: int, channels: int, h: int, w: int, device: torch.device, raw_root: Path) -> tuple:
    targets, _ = membrane_targets(batch, h, w, raw_root)
    maps = {k: torch.from_numpy(v).to(device) for k, v in make_maps(targets, set()).items()}
    x = torch.randn(batch, channels, h, w, generator=torch.Generator().manual_seed(1)).to(device)
    return x, torch.from_numpy(targets.astype("int64")).to(device), maps


def step_ratio(
    device: torch.device, size: int, width: int, raw_root: Path, warmup: int, repeats: int
) -> dict:
    """(c) SPW / CE training-step time on the U-Net at batch 2 × size²."""
    torch.manual_seed(0)
    model = UNet(in_channels=1, width=width).to(device)
    times = step_times(
        model, *random_batch(2, 1, size, size, device, raw_root), ["ce", "spw"], warmup, repeats
    )
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"batch": 2, "size": size, "width": width, "warmup": warmup, "repeats": repeats,
            "median_seconds": med, "spw_over_ce": med["spw"] / med["ce"]}  # fmt: skip


def shape_projection(device, quick: bool, width: int, raw_root: Path, runs_per_set: int) -> dict:
    """Epoch ≈ ceil(n_train / 10) CE steps at the paper's shapes (random data; no loading or validation)."""
    out = {}
    for name, (ch, h, w, n_train) in PAPER_SHAPES.items():
        b, hh, ww = (2, 32, 32) if quick else (10, h, w)
        torch.manual_seed(0)
        model = UNet(in_channels=ch, width=width).to(device)
        step = statistics.median(step_times(model, *random_batch(b, ch, hh, ww, device, raw_root), ["ce"],
                                            1, 2 if quick else 5)["ce"])  # fmt: skip
        epoch = math.ceil(n_train / 10) * step
        out[name] = {"batch": b, "shape": [hh, ww], "step_seconds": step, "epoch_seconds": epoch,
                     "grid_hours": epoch * runs_per_set / 3600}  # fmt: skip
    return {"sets": out, "grid_hours": sum(v["grid_hours"] for v in out.values())}


def epoch_times(device, root: Path, raw_root: Path, quick: bool, width: int) -> dict:
    """(d) one paper-profile CE epoch per data set (real ones present, else synthetic) and the grid."""
    real = [] if quick else [n for n, d in DATASETS.items() if not d.is_synthetic and d.present(raw_root)]
    sets = real or (["synth-drive"] if quick else [n for n, d in DATASETS.items() if d.is_synthetic])
    if real or not quick:  # synth-drive is ready (main); the other replicas are made here
        prepare(real or sets[1:], raw_root if real else root / "raw", root / "processed")
    extra = ["--epochs", "1"] + (["--width", str(width)] if quick else [])
    per_set = {}
    for name in sets:
        rc, folder, err = train("ce", name, "paper", device, root, extra)
        log = read_csv(folder / "log.csv") if rc == 0 else []
        per_set[name] = {"epoch_seconds": float(log[0]["epoch_seconds"]) if log else None, "returncode": rc}
        if rc != 0:
            per_set[name]["stderr_tail"] = err
    runs_per_set = (len(LOSSES) + 1) * GRID["folds"] * GRID["seeds"] * GRID["epochs"]
    done = [v["epoch_seconds"] for v in per_set.values() if v["epoch_seconds"] is not None]
    return {"data": "real" if real else "synthetic", "sets": per_set, "overrides": extra, "grid": GRID,
            "losses": len(LOSSES) + 1, "runs_per_set": runs_per_set,
            "formula": "sum over sets of epoch_seconds x (losses + label-only SPW) x 3 folds x 3 seeds x 50 epochs",
            "grid_hours": sum(done) * runs_per_set / 3600 if len(done) == len(per_set) else None,
            "paper_shapes": shape_projection(device, quick, width, raw_root, runs_per_set)}  # fmt: skip


def ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1e3:.1f} ms"


def summary_parity(par: dict) -> list[str]:
    head = [f"## (a) Loss values and gradients, device vs CPU: {'PASS' if par['passed'] else 'FAIL'}\n",
            f"float32 logits {par['shape']}, {par['target']} target; pass: value rel err ≤ {par['value_rtol']:g}, "
            f"gradient max abs err ≤ {par['grad_rtol']:g} × max |gradient|\n",
            "| loss | value (CPU) | value rel err | grad rel err | pass |", "|---|---|---|---|---|"]  # fmt: skip
    return head + [f"| {r['loss']} | {r['value_cpu']:.6g} | {r['value_rel_err']:.1e} | {r['grad_rel_err']:.1e} | "
                   f"{'yes' if r['passed'] else 'NO'} |" for r in par["rows"]]  # fmt: skip


def summary_runs(amp: dict, ratio: dict, ep: dict) -> list[str]:
    means = ", ".join(f"{k} {v:.3f}" for k, v in amp.get("test_means", {}).items()) or "none"
    lines = [f"\n## (b) AMP smoke run: {'PASS' if amp['passed'] else 'FAIL'}\n",
             f"`{amp['command']}` (AMP in effect: {amp['amp_effective']}); test means: {means}\n",
             f"## (c) SPW / CE training-step time: {ratio['spw_over_ce']:.3f}\n",
             f"U-Net width {ratio['width']}, batch 2 × {ratio['size']}², forward + backward + clip + Adam, median of "
             f"{ratio['repeats']} after {ratio['warmup']} warm-up: CE {ms(ratio['median_seconds']['ce'])}, "
             f"SPW {ms(ratio['median_seconds']['spw'])}\n",
             f"## (d) Paper-profile epoch (CE, train.py --epochs 1), {ep['data']} data\n"]  # fmt: skip
    lines += [f"- {k}: {ms(v['epoch_seconds'])} (exit {v['returncode']})" for k, v in ep["sets"].items()]
    grid = "–" if ep["grid_hours"] is None else f"{ep['grid_hours']:.2f} h"
    shapes = ep["paper_shapes"]
    lines += [f"\nFull grid = {ep['formula']} = {grid} ({ep['runs_per_set']} epochs per set).",
              "At the real sets' paper shapes (ceil(n_train / 10) CE steps of random data per epoch): "
              + ", ".join(f"{k} ({v['batch']}×{v['shape'][0]}×{v['shape'][1]}) {ms(v['epoch_seconds'])}"
                         for k, v in shapes["sets"].items())
              + f"; grid {shapes['grid_hours']:.2f} h.\n"]  # fmt: skip
    return lines


def summary(results: dict[str, dict]) -> str:
    """SUMMARY.md: the environment, then one short section per check."""
    env = results["loss_parity"]["environment"]
    head = [f"# GPU check\n\n{env['device_name']} ({env['device']}), torch {env['torch']}, CUDA {env['cuda']}, "
            f"commit {env['git_commit'][:12]}\n"]  # fmt: skip
    runs = summary_runs(results["amp_smoke"], results["step_ratio"], results["epoch_times"])
    return "\n".join(head + summary_parity(results["loss_parity"]) + runs)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--out", type=Path, default=Path("results/gpu"), help="folder of the JSON files and SUMMARY.md"
    )
    p.add_argument("--size", type=int, default=512, help="H = W of (a) and (c); a multiple of 16")
    p.add_argument("--quick", action="store_true", help="tiny sizes and widths, synthetic data only")
    p.add_argument(
        "--allow-cpu", action="store_true", help="without CUDA, run everything on the CPU (implies --quick)"
    )
    p.add_argument("--raw-root", type=Path, default=default_raw_root(), help="raw data sets (read-only)")
    args = p.parse_args(argv)
    if args.size < 16 or args.size % 16:
        p.error(f"--size must be a positive multiple of 16 (SPW's 4 pyramid levels), got {args.size}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available() and not args.allow_cpu:
        print(
            "gpu_check: no CUDA device available; nothing checked, nothing written (--allow-cpu runs on the CPU)"
        )
        return 0
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    quick = args.quick or device.type == "cpu"
    size, width = (32, 4) if quick else (args.size, 64)
    env = environment(device)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        root = Path(tmp)
        prepare(["synth-drive"], root / "raw", root / "processed")
        results = {"loss_parity": loss_parity(device, size, args.raw_root), "amp_smoke": amp_smoke(device, root),
                   "step_ratio": step_ratio(device, size, width, args.raw_root, *((1, 2) if quick else (3, 10))),
                   "epoch_times": epoch_times(device, root, args.raw_root, quick, width)}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    for name, payload in results.items():
        payload["environment"] = env
        (args.out / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (args.out / "SUMMARY.md").write_text(summary(results))
    print(summary(results))
    epochs_ok = all(v["returncode"] == 0 for v in results["epoch_times"]["sets"].values())
    return 0 if results["loss_parity"]["passed"] and results["amp_smoke"]["passed"] and epochs_ok else 1


if __name__ == "__main__":
    sys.exit(main())
