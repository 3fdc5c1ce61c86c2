"""Per-metric timings of ``metrics`` on synthetic 1024² pairs: EM-like, DRIVE-like (FOV), GlaS-like (instances).

Usage:
    python scripts/bench_metrics.py [--size 1024] [--repeats 5] [--seed 0]

Prints, per pair, the median wall time (``time.perf_counter``) and CPU time (``time.process_time``) over ``--repeats`` runs of each
metric function called on its own, and of ``compute_metrics`` (all metrics of the data set, which
shares the labelling and distance transforms between metrics). Single process; numpy/scipy run
on one core here (no threaded BLAS in these paths). Issue 5 target: compute_metrics < 1 s per
1024² image.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import numpy as np
from scipy import ndimage

import metrics
from metrics.contingency import label_class0


def em_like_pair(size: int, rng: np.random.Generator) -> dict:
    """Voronoi cells (~1 per 60² px) with 2-px membranes; prediction = noisy blurred target."""
    seeds = np.ones((size, size), bool)
    n_cells = max(size * size // 3600, 2)
    seeds[rng.integers(0, size, n_cells), rng.integers(0, size, n_cells)] = False
    _, (rows, cols) = ndimage.distance_transform_edt(seeds, return_indices=True)
    cells = rows * size + cols
    membrane = (cells != np.roll(cells, 1, axis=0)) | (cells != np.roll(cells, 1, axis=1))
    gt = ndimage.binary_dilation(membrane).astype(np.uint8)
    return {"gt": gt, "prob": _noisy_prob(gt, rng), "dataset": "isbi2012", "family": "em"}


def drive_like_pair(size: int, rng: np.random.Generator) -> dict:
    """Random-walk vessels inside a circular FOV; prediction = noisy blurred target."""
    gt = np.zeros((size, size), bool)
    for _ in range(40):
        pos = rng.uniform(0, size, 2)
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(size // 2):
            angle += rng.normal(0, 0.15)
            pos = np.clip(pos + 2 * np.array([np.sin(angle), np.cos(angle)]), 0, size - 1)
            gt[int(pos[0]), int(pos[1])] = True
    gt = ndimage.binary_dilation(gt, iterations=int(rng.integers(1, 3))).astype(np.uint8)
    yy, xx = np.mgrid[:size, :size]
    fov = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.47 * size) ** 2).astype(np.uint8)
    return {
        "gt": gt * fov,
        "prob": _noisy_prob(gt * fov, rng),
        "dataset": "drive",
        "family": "drive",
        "fov": fov,
    }


def glas_like_pair(size: int, rng: np.random.Generator) -> dict:
    """~20 elliptic glands (class 0) in stroma (class 1) with instance ids; the prediction shifts
    and reshapes them, misses one and adds small false glands."""
    yy, xx = np.mgrid[:size, :size]
    instances = np.zeros((size, size), np.int32)
    pred_glands = np.zeros((size, size), bool)
    for k in range(1, 21):
        cy, cx = rng.uniform(0.1, 0.9, 2) * size
        ry, rx = rng.uniform(0.03, 0.09, 2) * size
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        instances[inside & (instances == 0)] = k
        if k != 1:  # gland 1 is missed
            dy, dx = rng.normal(0, 0.01 * size, 2)
            pred_glands |= ((yy - cy - dy) / (ry * 0.9)) ** 2 + ((xx - cx - dx) / rx) ** 2 < 1
    for _ in range(5):  # small false positives
        cy, cx = rng.uniform(0, size, 2)
        pred_glands |= (yy - cy) ** 2 + (xx - cx) ** 2 < (0.01 * size) ** 2
    gt = (instances == 0).astype(np.uint8)
    prob = _noisy_prob((~pred_glands).astype(np.uint8), rng)
    return {"gt": gt, "prob": prob, "dataset": "glas", "family": "glas", "instances": instances}


def _noisy_prob(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    blurred = ndimage.gaussian_filter(target.astype(np.float64), 1.5)
    return np.clip(blurred + rng.normal(0, 0.15, target.shape), 0, 1)


def metric_calls(pair: dict) -> dict:
    """Each metric on its own, as a public function call on the pair's inputs."""
    prob, gt = pair["prob"], pair["gt"]
    pred = (prob > 0.5).astype(np.uint8)
    calls = {
        "miou": lambda: metrics.miou(pred, gt),
        "mdice": lambda: metrics.mdice(pred, gt),
        "vi (+split/merge)": lambda: metrics.vi_split_merge(pred, gt),
        "ari": lambda: metrics.ari(pred, gt),
        "mhd": lambda: metrics.mhd(pred, gt),
        "hd95": lambda: metrics.hd95(pred, gt),
    }
    family = pair["family"]
    if family in ("drive", "em"):
        calls["cldice"] = lambda: metrics.cldice(pred, gt)
        calls["betti errors"] = lambda: metrics.betti_errors(pred, gt)
    if family == "em":
        calls["are_snemi"] = lambda: metrics.adapted_rand_error(
            label_class0(gt.astype(bool)), label_class0(pred > 0)
        )
    if "fov" in pair:
        calls["fov_* (acc/sens/spec/auc)"] = lambda: metrics.fov_metrics(prob, gt, pair["fov"])
    if "instances" in pair:
        calls["obj_* (f1/dice/hd)"] = lambda: metrics.object_metrics(
            label_class0(pred > 0), pair["instances"]
        )
    extra = {k: pair[k] for k in ("fov", "instances") if k in pair}
    calls["compute_metrics (all)"] = lambda: metrics.compute_metrics(prob, gt, pair["family"], **extra)
    return calls


def median_seconds(fn, repeats: int) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds of this process) over ``repeats`` calls after a warm-up.

    CPU time is reported too because wall time inflates on a shared, oversubscribed machine.
    """
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1024, help="side of the square test images, pixels")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per metric (median reported)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic pairs")
    args = parser.parse_args(argv)
    if args.size < 16 or args.repeats < 1:
        parser.error(f"--size must be >= 16 and --repeats >= 1, got {args.size} and {args.repeats}")
    rng = np.random.default_rng(args.seed)
    print(
        f"# metrics timings, {args.size}x{args.size}, median of {args.repeats}, numpy {np.__version__}, "
        f"python {platform.python_version()}, {platform.processor() or platform.machine()}"
    )
    for name, make in (
        ("EM-like", em_like_pair),
        ("DRIVE-like", drive_like_pair),
        ("GlaS-like", glas_like_pair),
    ):
        pair = make(args.size, rng)
        print(f"\n## {name} pair (dataset={pair['dataset']})")
        print(f"{'metric':28s} {'wall ms':>9s} {'cpu ms':>9s}")
        for metric, fn in metric_calls(pair).items():
            wall, cpu = median_seconds(fn, args.repeats)
            print(f"{metric:28s} {1000 * wall:9.1f} {1000 * cpu:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
