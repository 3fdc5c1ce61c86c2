"""Table 3, the cost of each loss: epoch time, loss forward+backward, peak memory, one-off maps.

Sources (docs/ARCHITECTURE.md §2, §6; PAPER_SPEC §8 Table 3 is the paper's epoch-time table):

- median epoch time: every ``epoch_seconds`` of every run's ``log.csv`` pooled (per data set × loss),
  and its ratio to CE on the same data set;
- loss forward+backward per iteration: ``scripts/bench_losses.py --csv`` output (columns ``loss,
  device, batch, height, width, median_ms, ratio_to_ce`` + stamp columns), "–" when absent;
- peak memory: the largest ``peak_memory_bytes`` of the runs' ``timing.json`` (``memory_kind`` says
  CUDA allocator peak or process peak RSS);
- map generation: ``metadata.json["maps"][name]["seconds"]`` of the processed data set, summed over
  the loss's ``required_maps`` (one-off, per data set).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from common.run_folder import split_run_name

from .naming import CE_RUN, dataset_label, order_datasets, order_rows, row_label
from .render import MISSING, fmt, markdown_table
from .runs import Run

BENCH_COLUMNS = ("loss", "device", "batch", "height", "width", "median_ms", "ratio_to_ce")
STAMP_KEYS = ("device_name", "torch", "threads")
#: Per-row measurements of the bench CSV besides those: not part of the environment stamp.
BENCH_PER_ROW = ("min_ms",)


def required_maps(run_name: str) -> tuple[str, ...] | None:
    """The precomputed maps the run's loss reads (``losses.LOSSES[loss].required_maps``); None if unknown."""
    from losses import LOSSES  # imported here: torch is only needed for this lookup

    loss, _ = split_run_name(run_name)
    cls = LOSSES.get(loss)
    return None if cls is None else tuple(cls.required_maps)


def map_seconds(metadata: dict | None, maps: tuple[str, ...] | None) -> float:
    """Seconds spent generating ``maps`` for a data set (0 when none are needed; NaN when unknown)."""
    if maps is None:
        return float("nan")
    if not maps:
        return 0.0
    recorded = (metadata or {}).get("maps", {})
    try:
        return float(sum(float(recorded[name]["seconds"]) for name in maps))
    except (KeyError, TypeError, ValueError):
        return float("nan")


def load_metadata(data_root: Path, dataset: str) -> dict | None:
    """``<data_root>/<dataset>/metadata.json`` or None (with a warning) when absent or unreadable."""
    import json

    path = data_root / dataset / "metadata.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        warnings.warn(f"{path}: unreadable ({err}); map times shown as {MISSING}", stacklevel=2)
        return None


def load_bench_csv(path: Path | None) -> pd.DataFrame | None:
    """The bench_losses CSV, or None (with a warning naming the file) when absent or malformed."""
    if path is None:
        return None
    if not path.is_file():
        warnings.warn(f"--bench-csv {path} not found; loss fwd+bwd times shown as {MISSING}", stacklevel=2)
        return None
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        warnings.warn(f"{path}: not a readable CSV ({err}); loss times shown as {MISSING}", stacklevel=2)
        return None
    missing = [c for c in BENCH_COLUMNS if c not in frame.columns]
    if missing:
        warnings.warn(f"{path}: missing columns {missing}; loss times shown as {MISSING}", stacklevel=2)
        return None
    return frame


def bench_label(device, batch, height, width) -> str:
    return f"{device} B{int(batch)} {int(height)}×{int(width)}"


def stamp(values) -> str:
    """Distinct values joined (``"a; b"``), so mixed machines are visible, not hidden."""
    distinct = sorted({str(v) for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))})
    return "; ".join(distinct) if distinct else MISSING


def cost_frame(runs: list[Run], bench: pd.DataFrame | None, data_root: Path) -> pd.DataFrame:
    """One row per data set × run name with the columns of the module docstring."""
    rows = []
    datasets = order_datasets({r.dataset for r in runs})
    for dataset in datasets:
        metadata = load_metadata(data_root, dataset)
        mine = [r for r in runs if r.dataset == dataset]
        for run_name in order_rows({r.run_name for r in mine}):
            group = [r for r in mine if r.run_name == run_name]
            epochs = np.concatenate([r.log["epoch_seconds"].to_numpy(float) for r in group])
            epochs = epochs[~np.isnan(epochs)]
            peaks = [r.timing.get("peak_memory_bytes") for r in group]
            peaks = [float(p) for p in peaks if isinstance(p, (int, float))]
            row = {"dataset": dataset, "run_name": run_name, "label": row_label(run_name), "n_runs": len(group),
                   "epoch_seconds_median": float(np.median(epochs)) if epochs.size else np.nan,
                   "peak_memory_mib": max(peaks) / 2**20 if peaks else np.nan,
                   "memory_kind": stamp(r.timing.get("memory_kind") for r in group),
                   "map_seconds": map_seconds(metadata, _safe_required_maps(run_name))}
            for key in STAMP_KEYS:
                row[key] = stamp(r.timing.get(key) for r in group)
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["ratio_to_ce"] = np.nan
    for dataset in datasets:
        sel = frame["dataset"] == dataset
        ce = frame.loc[sel & (frame["run_name"] == CE_RUN), "epoch_seconds_median"]
        if not ce.empty and ce.iloc[0] > 0:
            frame.loc[sel, "ratio_to_ce"] = frame.loc[sel, "epoch_seconds_median"] / ce.iloc[0]
    return _add_bench(frame, bench)


def _safe_required_maps(run_name: str) -> tuple[str, ...] | None:
    try:
        return required_maps(run_name)
    except ValueError:
        return None


def _add_bench(frame: pd.DataFrame, bench: pd.DataFrame | None) -> pd.DataFrame:
    """Columns ``bench_ms[<config>]`` and ``bench_ratio[<config>]`` per benchmark configuration."""
    if bench is None:
        return frame
    for (device, batch, height, width), part in bench.groupby(["device", "batch", "height", "width"], sort=True):
        label = bench_label(device, batch, height, width)
        by_loss = part.drop_duplicates("loss", keep="last").set_index("loss")
        frame[f"bench_ms[{label}]"] = [by_loss["median_ms"].get(n, np.nan) for n in frame["run_name"]]
        frame[f"bench_ratio[{label}]"] = [by_loss["ratio_to_ce"].get(n, np.nan) for n in frame["run_name"]]
    return frame


def bench_stamp(bench: pd.DataFrame | None) -> str:
    if bench is None:
        return f"loss fwd+bwd: {MISSING} (no scripts/bench_losses.py --csv output given)"
    extra = [c for c in bench.columns if c not in BENCH_COLUMNS and c not in BENCH_PER_ROW]
    return "loss fwd+bwd (scripts/bench_losses.py): " + ", ".join(f"{c}={stamp(bench[c])}" for c in extra)


def write_cost(out: Path, frame: pd.DataFrame, bench: pd.DataFrame | None) -> None:
    """``table3.csv`` and ``table3.md`` (one table per data set, stamped)."""
    frame.to_csv(out / "table3.csv", index=False, float_format="%.6g")
    md = ["# Table 3: cost per loss\n\n"
          "Epoch time = median of every epoch of every run (log.csv), ×CE = its ratio to CE on the same data set; "
          "loss fwd+bwd = median ms per iteration from scripts/bench_losses.py (×CE beside it); peak memory = "
          "largest over runs (kind: cuda = allocator peak, rss = process peak RSS); maps = one-off seconds to "
          "generate the loss's precomputed maps for the whole data set (metadata.json).\n\n",
          f"- {bench_stamp(bench)}\n"]
    bench_cols = [c for c in frame.columns if c.startswith("bench_ms[")]
    for dataset in order_datasets(frame["dataset"].unique()) if not frame.empty else []:
        part = frame[frame["dataset"] == dataset]
        md.append(f"\n## {dataset_label(dataset)}\n\nruns stamped: device {stamp(part['device_name'].str.split('; ').explode())}, "
                  f"torch {stamp(part['torch'].str.split('; ').explode())}, "
                  f"threads {stamp(part['threads'].str.split('; ').explode())}\n\n")
        header = ["Loss", "epoch s", "×CE", "peak MiB", "memory", "maps s"]
        header += [f"fwd+bwd ms ({c[len('bench_ms['):-1]})" for c in bench_cols] or ["fwd+bwd ms"]
        rows = []
        for rec in part.to_dict("records"):
            cells = [rec["label"], fmt(rec["epoch_seconds_median"], 2), fmt(rec["ratio_to_ce"], 2),
                     fmt(rec["peak_memory_mib"], 0), rec["memory_kind"], fmt(rec["map_seconds"], 1)]
            for c in bench_cols:
                ms, ratio = rec[c], rec["bench_ratio[" + c[len("bench_ms["):]]
                cells.append(MISSING if np.isnan(ms) else f"{ms:.1f} (×{fmt(ratio, 2)})")
            if not bench_cols:
                cells.append(MISSING)
            rows.append(cells)
        md.append(markdown_table(header, rows))
    (out / "table3.md").write_text("".join(md))
