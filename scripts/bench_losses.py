"""Forward+backward time of every registered loss, beside CE and the literal SPW oracle.

For each size ``B×H×W`` (default: the paper's training batch 10×512×512 and a small
2×128×128) and each device (CPU, and CUDA when present), every loss of ``losses.LOSSES``,
the label-only SPW variant (``spw+use_prediction=False``, its own row as in docs/METHOD.md §2)
and the slow literal SPW of ``losses/_spw_reference.py`` (``spw_literal``) run one
forward+backward step on the same inputs:

- logits: random ``(B,2,H,W)`` float32 with ``requires_grad``;
- target: real membranes (ISBI 2012 labels, class 1 = membrane, first B slices cropped to
  H×W) when ``<raw-root>/ISBI2012`` exists, otherwise Voronoi membranes
  (``data.synthetic.voronoi_membrane_mask``); the ``target`` column says which;
- per-image class weights (docs/METHOD.md §4.4) and every map a loss declares in
  ``required_maps``, generated from the target by ``losses.maps.MAP_GENERATORS`` (untimed).

Timing: ``--warmup`` untimed rounds, then ``--repeats`` timed rounds; in every round each
loss runs once, round-robin, so that a change of machine load hits all losses alike;
CUDA is synchronized before and after each step; the median is reported, with the
ratio to CE's median on the same device and size. Rows are stamped with the device name,
torch version and thread count.

    .venv/bin/python scripts/bench_losses.py                       # everything
    .venv/bin/python scripts/bench_losses.py --sizes 10x512x512 --losses ce,spw,spw_literal --csv results/bench_losses.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from data.files import atomic_write_bytes
from data.processing import class_weights, isbi2012_target
from data.raw import ISBI2012_DIR, read_volume_file
from losses import LOSSES, MAP_CHANNELS, build_loss, loss_run_name
from losses._spw_reference import literal_spw_loss
from losses.maps import MAP_GENERATORS
from training.device import device_name, synchronize

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Extra rows beside the registered losses: the label-only SPW variant and the literal oracle.
EXTRA_ROWS = ("spw+use_prediction=False", "spw_literal")
CSV_COLUMNS = (
    "loss", "device", "batch", "height", "width", "median_ms", "ratio_to_ce",
    "min_ms", "repeats", "device_name", "torch", "threads", "target",
)  # fmt: skip

LossFn = Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor]


def loss_function(row: str) -> LossFn:
    """The callable ``(logits, target, maps) -> scalar`` timed for a table row."""
    if row == "spw_literal":
        return lambda logits, target, maps: literal_spw_loss(logits, target, maps["class_weight"])
    if row == "spw+use_prediction=False":
        return build_loss("spw", use_prediction=False)
    return build_loss(row)


def required_maps(row: str) -> tuple[str, ...]:
    """Names of the per-pixel maps a row's loss declares (the oracle needs none)."""
    if row in LOSSES:
        return tuple(LOSSES[row].required_maps)
    return () if row in EXTRA_ROWS else tuple(build_loss(row).required_maps)


def canonical_row(row: str, available: list[str], parser: argparse.ArgumentParser) -> str:
    """A table row: a registered loss or extra row as given, else the run name of a loss specification
    (a weighted sum such as a recipe row, keywords, a plugin), as the runs' folders name it."""
    if row in available:
        return row
    try:
        return loss_run_name(row)
    except (ValueError, TypeError) as err:
        parser.error(
            f"--losses: {row!r} is neither one of {', '.join(available)} nor a loss specification ({err})"
        )
        raise  # unreachable: parser.error exits


def parse_sizes(text: str) -> list[tuple[int, int, int]]:
    """``"10x512x512,2x128x128"`` → ``[(10, 512, 512), (2, 128, 128)]`` (B, H, W)."""
    sizes = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise argparse.ArgumentTypeError(f"--sizes: expected BxHxW items like 10x512x512, got {item!r}")
        sizes.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return sizes


def default_raw_root() -> Path:
    """``data/`` when it holds ISBI 2012, else the read-only ``../shared/data`` beside the checkout."""
    local = REPO_ROOT / "data"
    return local if (local / ISBI2012_DIR).is_dir() else REPO_ROOT.parent / "shared" / "data"


def membrane_targets(batch: int, h: int, w: int, raw_root: Path) -> tuple[np.ndarray, str]:
    """Bool ``(B,H,W)`` membrane targets and where they came from (``isbi2012`` or ``voronoi``)."""
    labels_path = raw_root / ISBI2012_DIR / "train-labels.tif"
    if labels_path.is_file():
        labels = read_volume_file(labels_path)  # read-only; (30, 512, 512), 0 = membrane
        if labels.shape[1] >= h and labels.shape[2] >= w:
            slices = [labels[i % labels.shape[0], :h, :w] for i in range(batch)]
            return np.stack([isbi2012_target(s) for s in slices]), "isbi2012"
    from data.synthetic import voronoi_membrane_mask

    n_cells = max(4, h * w // 1500)  # ~ISBI 2012 cell density
    return np.stack([voronoi_membrane_mask((h, w), n_cells, seed=i) for i in range(batch)]), "voronoi"


def make_maps(targets: np.ndarray, names: set[str]) -> dict[str, np.ndarray]:
    """Per-image class weights ``(B,2)`` and each requested map ``(B,C,H,W)``, float32, from the targets."""
    b, h, w = targets.shape
    out = {"class_weight": np.array([class_weights(t) for t in targets], dtype=np.float32)}
    for name in sorted(names):
        per_image = [np.asarray(MAP_GENERATORS[name](t), dtype=np.float32) for t in targets]
        out[name] = np.stack(per_image).reshape(b, MAP_CHANNELS[name], h, w)
    return out


def time_rows(
    rows: list[str], logits: torch.Tensor, target: torch.Tensor, maps: dict, warmup: int, repeats: int
) -> dict[str, list[float]]:
    """Seconds of each row's forward+backward, round-robin over ``warmup + repeats`` rounds."""
    fns = {row: loss_function(row) for row in rows}
    times: dict[str, list[float]] = {row: [] for row in rows}
    for round_index in range(warmup + repeats):
        for row, fn in fns.items():
            logits.grad = None
            synchronize(logits.device)
            start = time.perf_counter()
            fn(logits, target, maps).backward()
            synchronize(logits.device)
            if round_index >= warmup:
                times[row].append(time.perf_counter() - start)
    return times


def bench(
    rows: list[str],
    devices: list[torch.device],
    sizes: list[tuple[int, int, int]],
    raw_root: Path,
    warmup: int,
    repeats: int,
) -> list[dict]:
    """One result dict per (size, device, row), with the columns of :data:`CSV_COLUMNS`."""
    results = []
    needed = {m for row in rows for m in required_maps(row)}
    for batch, h, w in sizes:
        targets, source = membrane_targets(batch, h, w, raw_root)
        maps_np = make_maps(targets, needed)
        for device in devices:
            gen = torch.Generator().manual_seed(0)
            logits = torch.randn(batch, 2, h, w, generator=gen).to(device).requires_grad_()
            target = torch.from_numpy(targets.astype(np.int64)).to(device)
            maps = {k: torch.from_numpy(v).to(device) for k, v in maps_np.items()}
            times = time_rows(rows, logits, target, maps, warmup, repeats)
            ce_ms = statistics.median(times["ce"]) * 1e3
            for row in rows:
                median_ms = statistics.median(times[row]) * 1e3
                results.append({
                    "loss": row, "device": device.type, "batch": batch, "height": h, "width": w,
                    "median_ms": round(median_ms, 3), "ratio_to_ce": round(median_ms / ce_ms, 3),
                    "min_ms": round(min(times[row]) * 1e3, 3), "repeats": repeats,
                    "device_name": device_name(device), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "target": source,
                })  # fmt: skip
    return results


def format_table(results: list[dict]) -> str:
    lines = [f"{'loss':<26} {'device':<6} {'B×H×W':<12} {'median ms':>10} {'ratio to CE':>12}"]
    for r in results:
        size = f"{r['batch']}×{r['height']}×{r['width']}"
        lines.append(
            f"{r['loss']:<26} {r['device']:<6} {size:<12} {r['median_ms']:>10.1f} {r['ratio_to_ce']:>12.2f}"
        )
    return "\n".join(lines)


def spw_summary(results: list[dict]) -> list[str]:
    """The issue's two figures per (device, size): oracle/production SPW and SPW/CE."""
    out = []
    keyed = {(r["device"], r["batch"], r["height"], r["width"], r["loss"]): r for r in results}
    for (dev, b, h, w, loss), r in keyed.items():
        if loss != "spw":
            continue
        line = f"{dev} {b}×{h}×{w}: SPW / CE = {r['ratio_to_ce']:.2f}"
        oracle = keyed.get((dev, b, h, w, "spw_literal"))
        if oracle:
            line += f"; literal oracle / SPW = {oracle['median_ms'] / r['median_ms']:.2f}× (speed-up)"
        out.append(line)
    return out


def write_csv(path: Path, results: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(results)
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    available = [*LOSSES, *EXTRA_ROWS]
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--device", choices=["all", "cpu", "cuda"], default="all", help="'all' = CPU plus CUDA when present"
    )
    p.add_argument("--sizes", type=parse_sizes, default="10x512x512,2x128x128", help="comma-separated BxHxW")
    p.add_argument(
        "--losses", default=",".join(available), help=f"comma-separated rows among: {', '.join(available)}"
    )
    p.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--raw-root", type=Path, default=default_raw_root(), help="folder holding ISBI2012/ (read-only)"
    )
    p.add_argument("--csv", type=Path, default=None, help="write the rows to this CSV (atomically)")
    args = p.parse_args(argv)
    rows = [canonical_row(r.strip(), available, p) for r in args.losses.split(",") if r.strip()]
    args.rows = [
        "ce",
        *[r for r in dict.fromkeys(rows) if r != "ce"],
    ]  # CE always runs: it is the ratio's base
    if args.repeats < 1 or args.warmup < 0:
        p.error(f"--repeats must be >= 1 and --warmup >= 0, got {args.repeats} and {args.warmup}")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] if args.device in ("all", "cpu") else []
    if args.device == "cuda" or (args.device == "all" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))
    results = bench(args.rows, devices, args.sizes, args.raw_root, args.warmup, args.repeats)
    stamps = {(r["device"], r["device_name"]) for r in results}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          + "; ".join(f"{d}: {n}" for d, n in sorted(stamps))
          + f"; median of {args.repeats} after {args.warmup} warm-up; target: {results[0]['target']}")  # fmt: skip
    print(format_table(results))
    for line in spw_summary(results):
        print(line)
    if args.csv is not None:
        write_csv(args.csv, results)
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
