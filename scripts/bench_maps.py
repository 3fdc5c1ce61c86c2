"""Time and peak memory of the map generators (losses/maps.py) beside their literal recipes.

For three masks: a SNEMI3D-like 1024×1024 Voronoi membrane slice (~300 cells), a DRIVE
vessel mask (the first training manual from ``--raw-root`` padded as the processed data
set, or synthetic vessels when DRIVE is absent) and a GlaS-like blob mask (448×576 glands
in stroma). Each generator call runs in a fresh forked process, so its peak memory is that
process's peak RSS increase (``resource.ru_maxrss``) and nothing else shares it. The literal
oracles (``tests/map_oracles.py``: one full-image EDT per component, a K×H×W stack) run
beside them once; the speed-up is oracle seconds / production median seconds, and the
max abs difference between both maps is reported as a parity check.

    .venv/bin/python scripts/bench_maps.py                  # everything, oracles included
    .venv/bin/python scripts/bench_maps.py --no-oracle      # production only (seconds)
    .venv/bin/python scripts/bench_maps.py --out results/bench_maps.json
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from data.files import atomic_write_json
from data.synthetic import blob_mask, vessel_mask, voronoi_membrane_mask
from losses._map_oracles import (
    oracle_abw_map,
    oracle_skea_topo_map,
    oracle_wce_map,
)
from losses.maps import MAP_GENERATORS

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Oracles faster than this (seconds) are repeated like the production generators.
ORACLE_REPEAT_BELOW_S = 5.0

ORACLES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "wce": oracle_wce_map,
    "abw": oracle_abw_map,
    "skea_topo": oracle_skea_topo_map,
}


def _measure_in_child(
    fn: Callable[[np.ndarray], np.ndarray], mask: np.ndarray
) -> tuple[float, int, np.ndarray]:
    """Run ``fn(mask)`` here (a fresh forked process): seconds, peak RSS increase (bytes), result."""
    # After fork the kernel resets the high-water mark to the current RSS, so the
    # difference is this call's own peak.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = fn(mask)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return seconds, (peak - before) * 1024, out  # ru_maxrss is in KiB on Linux


def measure(fn: Callable[[np.ndarray], np.ndarray], mask: np.ndarray) -> tuple[float, int, np.ndarray]:
    """``_measure_in_child`` in a new forked worker process."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork")) as pool:
        return pool.submit(_measure_in_child, fn, mask).result()


def drive_mask(raw_root: Path) -> tuple[str, np.ndarray]:
    """The first DRIVE training manual as a padded binary mask, or synthetic vessels."""
    from data.processing import centred_padding, drive_target, pad
    from data.raw import read_image_file

    path = raw_root / "DRIVE" / "Drive_source" / "training" / "1st_manual" / "21_manual1.gif"
    if not path.is_file():
        return "drive-synthetic 608x576", vessel_mask((608, 576), 40, seed=0)
    target = drive_target(read_image_file(path))
    return f"drive {path.name} 608x576", pad(target, centred_padding(target.shape), "edge")


def build_masks(args: argparse.Namespace) -> list[tuple[str, np.ndarray]]:
    size = args.size
    return [
        (
            f"snemi-like {size}x{size} {args.cells} cells",
            voronoi_membrane_mask((size, size), args.cells, seed=0),
        ),
        drive_mask(args.raw_root),
        ("glas-like 448x576", blob_mask((448, 576), 14, seed=0)),
    ]


def bench(args: argparse.Namespace) -> list[dict]:
    rows = []
    for gen in MAP_GENERATORS.values():  # warm-up (lazy imports) before forking
        gen(np.eye(8, dtype=bool))
    for mask_name, mask in build_masks(args):
        for name in args.maps:
            runs = [measure(MAP_GENERATORS[name], mask) for _ in range(args.repeats)]
            row = {
                "mask": mask_name,
                "map": name,
                "shape": list(mask.shape),
                "class1_fraction": round(float(mask.mean()), 4),
                "seconds": statistics.median(r[0] for r in runs),
                "peak_bytes": max(r[1] for r in runs),
            }
            if not args.no_oracle:
                oracle_runs = [measure(ORACLES[name], mask)]
                if oracle_runs[0][0] < ORACLE_REPEAT_BELOW_S:  # cheap enough: same repeats as production
                    oracle_runs += [measure(ORACLES[name], mask) for _ in range(args.repeats - 1)]
                o_sec = statistics.median(r[0] for r in oracle_runs)
                row.update(
                    oracle_seconds=o_sec,
                    oracle_peak_bytes=max(r[1] for r in oracle_runs),
                    oracle_runs=len(oracle_runs),
                    speedup=o_sec / row["seconds"],
                    max_abs_diff=float(np.abs(runs[0][2].astype(np.float64) - oracle_runs[0][2]).max()),
                )
            rows.append(row)
            print(_format_row(row), flush=True)
    return rows


def _format_row(row: dict) -> str:
    mib = 2**20
    text = f"| {row['mask']} | {row['map']} | {row['seconds']:.3f} | {row['peak_bytes'] / mib:.1f} |"
    if "oracle_seconds" in row:
        text += (
            f" {row['oracle_seconds']:.3f} | {row['oracle_peak_bytes'] / mib:.1f} | {row['speedup']:.1f}x |"
            f" {row['max_abs_diff']:.1e} |"
        )
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--maps",
        nargs="+",
        choices=sorted(MAP_GENERATORS),
        default=list(MAP_GENERATORS),
        help="maps to benchmark (default: all)",
    )
    parser.add_argument("--size", type=int, default=1024, help="side of the SNEMI-like slice (default: 1024)")
    parser.add_argument(
        "--cells", type=int, default=300, help="Voronoi cells in the SNEMI-like slice (default: 300)"
    )
    parser.add_argument(
        "--raw-root",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "data",
        help="folder holding DRIVE/Drive_source (default: ../shared/data beside the checkout)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="production runs per map, median reported (default: 3)"
    )
    parser.add_argument("--no-oracle", action="store_true", help="skip the literal O(K·H·W) oracles")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here (atomic)")
    args = parser.parse_args(argv)
    if args.size < 16 or args.cells < 3 or args.repeats < 1:
        parser.error(
            f"need --size >= 16, --cells >= 3, --repeats >= 1; got {args.size}, {args.cells}, {args.repeats}"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    header = "| mask | map | seconds | peak MiB |"
    if not args.no_oracle:
        header += " oracle seconds | oracle peak MiB | speed-up | max abs diff |"
    print(f"python {platform.python_version()}, numpy {np.__version__}, cpus {os.cpu_count()}")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    rows = bench(args)
    if args.out is not None:
        atomic_write_json(args.out, {"command": " ".join(sys.argv), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
