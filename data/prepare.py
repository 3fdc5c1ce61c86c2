"""Prepare data sets: raw download -> ``<out-root>/<name>/`` (docs/ARCHITECTURE.md §2).

    python data/prepare.py --dataset drive isbi2012 --raw-root ../shared/data
    python data/prepare.py --dataset synth-drive synth-glas synth-snemi3d
    python -m data.prepare --help

Each data set is read (:mod:`data.raw`), padded and labelled (:mod:`data.processing`),
written with its statistics, class weights and seeded splits into a temporary folder
beside the output and renamed at the end, so an interrupted run leaves nothing
half-written. Weight maps (``--maps``) are computed by the generators of
``losses/maps.py`` in worker processes. Synthetic sets first write their raw replica under
``<raw-root>/synthetic/`` when it is absent (:mod:`data.synthetic`).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from common.provenance import git_commit, project_version
from data import DataError
from data.files import (
    atomic_save_npy,
    atomic_save_png,
    atomic_write_json,
    read_json,
    sha256_file,
    staging_dir,
)
from data.processed import missing_maps
from data.processing import ProcessedSample, channel_moments, class_weights, dataset_mean_std, make_splits
from data.registry import DATASETS, DatasetRecord, ensure_synthetic, get_dataset
from data.verify import check_metadata, check_splits

MAP_NAMES = ("wce", "abw", "skea_topo")
#: Seeds must fit numpy's legacy seeding (unsigned 32 bits).
MAX_SEED = 2**32
#: A replica needs one sample per fold at least (3-fold CV, docs/ARCHITECTURE.md §2).
MIN_SYNTH_SAMPLES = 3
MapGenerator = Callable[[np.ndarray], np.ndarray]


# ------------------------------------------------------------------------- provenance


# ----------------------------------------------------------------------------- writing


def sample_sources(sources, raw_root: Path, digests: dict[Path, str]) -> list[dict]:
    """Source entries (role, path relative to raw_root, sha256[, page]); digests cached per file."""
    out = []
    for src in sources:
        if src.path not in digests:
            digests[src.path] = sha256_file(src.path)
        try:
            rel = src.path.resolve().relative_to(raw_root.resolve()).as_posix()
        except ValueError:
            rel = src.path.as_posix()
        entry = {"role": src.role, "path": rel, "sha256": digests[src.path]}
        if src.page is not None:
            entry["page"] = src.page
        out.append(entry)
    return out


def write_sample(folder: Path, index: int, sample: ProcessedSample) -> None:
    """Write one sample's image, mask (0/255), second-observer mask, fov and instances under ``folder``."""
    name = f"{index:03d}"
    atomic_save_png(folder / "images" / f"{name}.png", sample.image)
    atomic_save_png(folder / "masks" / f"{name}.png", np.where(sample.mask, 255, 0).astype(np.uint8))
    if sample.fov is not None:
        atomic_save_png(folder / "fov" / f"{name}.png", np.where(sample.fov, 255, 0).astype(np.uint8))
    if sample.mask2 is not None:
        atomic_save_png(folder / "masks2" / f"{name}.png", np.where(sample.mask2, 255, 0).astype(np.uint8))
    if sample.instances is not None:
        atomic_save_npy(folder / "instances" / f"{name}.npy", sample.instances.astype(np.int32))


def sample_record(index: int, sample: ProcessedSample, sources: list[dict]) -> dict:
    """The ``metadata.json`` entry of one sample (docs/ARCHITECTURE.md §2)."""
    return {
        "index": index,
        "id": sample.id,
        "original_size": list(sample.original_size),
        "padded_size": list(sample.mask.shape),
        "padding": [list(p) for p in sample.padding],
        "class_weight": list(class_weights(sample.mask)),
        "foreground_fraction": float(np.count_nonzero(sample.mask) / sample.mask.size),
        "sources": sources,
    }


def build_metadata(info: DatasetRecord, records: list[dict], mean, std, created_by: dict) -> dict:
    """``metadata.json`` content; ``padded_size`` is null when sizes differ (real GlaS)."""
    sizes = {tuple(r["padded_size"]) for r in records}
    return {
        "name": info.name,
        "reader": info.read.__name__.removeprefix("read_"),
        "family": info.family,
        "class1": info.class1,
        "channels": info.channels,
        "num_samples": len(records),
        "padded_size": list(next(iter(sizes))) if len(sizes) == 1 else None,
        "train_crop": list(info.train_crop) if info.train_crop else None,
        "has_fov": info.has_fov,
        "has_instances": info.has_instances,
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "samples": records,
        "maps": {},
        "created_by": created_by,
    }


def add_split_seed(folder: Path, num_samples: int, seed: int) -> bool:
    """Add key ``str(seed)`` to ``folder/splits.json`` (kept keys stay); True if it was added."""
    path = folder / "splits.json"
    splits = check_splits(read_json(path), path, num_samples) if path.is_file() else {"splits": {}}
    if str(seed) in splits["splits"]:
        return False
    splits["splits"][str(seed)] = make_splits(num_samples, seed)
    splits["splits"] = dict(sorted(splits["splits"].items(), key=lambda kv: int(kv[0])))
    atomic_write_json(path, splits)
    return True


# -------------------------------------------------------------------------------- maps


def load_map_generators() -> dict[str, MapGenerator]:
    """``MAP_GENERATORS`` of ``losses/maps.py``; DataError if that module is not there yet."""
    try:
        from losses.maps import MAP_GENERATORS
    except ImportError as err:
        raise DataError(
            f"map generators unavailable ({err}); losses/maps.py must define MAP_GENERATORS, or pass --maps none"
        ) from err
    return MAP_GENERATORS


def expected_map_shape(name: str, size: tuple[int, int]) -> tuple[int, ...]:
    """Shape a generator must return: ``(H,W)`` for wce, ``(C,H,W)`` for the others."""
    from losses.maps import MAP_CHANNELS

    channels = MAP_CHANNELS[name]
    return tuple(size) if name == "wce" else (channels, *size)


def _timed_generate(generator: MapGenerator, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Run one generator on one mask in a worker; return (map, seconds)."""
    start = time.perf_counter()
    out = generator(mask)
    return np.asarray(out), time.perf_counter() - start


def check_map(name: str, index: int, array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float32 copy of a generated map; DataError on a wrong shape or non-finite values."""
    shape = expected_map_shape(name, size)
    if array.shape != shape:
        raise DataError(
            f"map generator {name!r} returned shape {array.shape} for sample {index}, expected {shape}"
        )
    if not np.all(np.isfinite(array)):
        raise DataError(f"map generator {name!r} returned non-finite values for sample {index}")
    return array.astype(np.float32)


def compute_maps(
    folder: Path,
    names: Sequence[str],
    generators: dict[str, MapGenerator],
    masks: list[np.ndarray],
    workers: int,
    progress: bool,
    label: str = "",
) -> dict[str, dict]:
    """Compute maps ``names`` for every mask and write ``folder/maps/<name>/NNN.npy``.

    ``masks``: uint8 ``(H,W)`` with 1 = class 1, in sample order. Each map is built in a
    temporary folder and renamed when complete. ``workers`` > 1 uses that many processes;
    ``label`` names the data set on the progress bar.
    Returns ``{name: {"seconds": wall, "cpu_seconds": sum over samples, "workers": n}}``.
    """
    timings = {}
    for name in names:
        if name not in generators:
            raise DataError(
                f"--maps {name!r}: no generator of that name in losses/maps.py (has {sorted(generators)})"
            )
        expected_map_shape(name, (1, 1))  # import the contract before any clock starts
    pool = cf.ProcessPoolExecutor(max_workers=workers) if workers > 1 and len(masks) > 1 else None
    try:
        for name in names:
            gen = generators[name]
            start, cpu = time.perf_counter(), 0.0
            # A map folder appears whole or not at all; a stale one is replaced.
            with staging_dir(folder / "maps" / name, overwrite=True) as tmp:
                with tqdm(
                    total=len(masks), desc=f"{label or folder.name} {name}", disable=not progress, leave=False
                ) as bar:
                    if pool is None:
                        results = ((i, _timed_generate(gen, m)) for i, m in enumerate(masks))
                    else:
                        futures = {pool.submit(_timed_generate, gen, m): i for i, m in enumerate(masks)}
                        results = ((futures[f], f.result()) for f in cf.as_completed(futures))
                    for i, (array, seconds) in results:
                        atomic_save_npy(tmp / f"{i:03d}.npy", check_map(name, i, array, masks[i].shape))
                        cpu += seconds
                        bar.update()
            timings[name] = {
                "seconds": round(time.perf_counter() - start, 3),
                "cpu_seconds": round(cpu, 3),
                "workers": workers if pool else 1,
            }
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return timings


def read_mask(path: Path) -> np.ndarray:
    """One processed mask as uint8 ``(H,W)`` with 1 = class 1; DataError naming the file."""
    try:
        with Image.open(path) as im:
            return (np.asarray(im) > 127).astype(np.uint8)
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(
            f"cannot read {path}: {type(err).__name__}: {err}; pass --overwrite to rebuild"
        ) from err


def read_masks(folder: Path, num_samples: int) -> list[np.ndarray]:
    """Masks of a prepared set as uint8 ``(H,W)`` with 1 = class 1."""
    return [read_mask(folder / "masks" / f"{i:03d}.png") for i in range(num_samples)]


# ----------------------------------------------------------------------------- prepare


def summary_line(metadata: dict, seconds: float, folder: Path, note: str = "") -> str:
    """One line per data set: samples, size, foreground fraction, mean/std, time."""
    recs = metadata["samples"]
    size = metadata["padded_size"]
    size_txt = f"{size[0]}x{size[1]}" if size else "mixed sizes"
    fg = float(np.mean([r["foreground_fraction"] for r in recs]))
    fmt = ", ".join
    return (
        f"{metadata['name']}: {len(recs)} samples, {size_txt}, class-1 ({metadata['class1']}) fraction {fg:.4f}, "
        f"mean [{fmt(f'{m:.4f}' for m in metadata['mean'])}], std [{fmt(f'{s:.4f}' for s in metadata['std'])}], "
        f"{seconds:.1f} s -> {folder}{note}"
    )


def prepare_dataset(info: DatasetRecord, args: argparse.Namespace, created_by: dict, generators) -> str:
    """Prepare one data set according to ``args``; return its summary line."""
    start = time.perf_counter()
    raw_root, out = Path(args.raw_root), Path(args.out_root) / info.name
    progress = not args.no_progress and sys.stderr.isatty()

    if out.exists() and not args.overwrite:
        if not (out / "metadata.json").is_file():
            raise DataError(
                f"{out} exists but is not a prepared data set (no metadata.json); pass --overwrite to replace it"
            )
        metadata = check_metadata(read_json(out / "metadata.json"), out / "metadata.json")
        add_split_seed(out, metadata["num_samples"], args.seed)
        todo = missing_maps(out, metadata, args.maps)
        if todo:
            masks = read_masks(out, metadata["num_samples"])
            metadata["maps"].update(compute_maps(out, todo, generators, masks, args.workers, progress))
            atomic_write_json(out / "metadata.json", metadata)
        note = (
            f" (kept existing output; added maps {todo})"
            if todo
            else " (kept existing output; --overwrite rebuilds)"
        )
        return summary_line(metadata, time.perf_counter() - start, out, note)

    if info.is_synthetic:
        samples = info.default_samples if args.synth_samples is None else args.synth_samples
        ensure_synthetic(
            info.name, info.raw_base(raw_root), samples, args.synth_seed, regenerate=args.overwrite
        )
    raw_samples = info.read_raw(raw_root)
    with staging_dir(out, overwrite=args.overwrite) as stage:
        digests: dict[Path, str] = {}
        records, moments, masks = [], [], []
        for index, raw in enumerate(tqdm(raw_samples, desc=info.name, disable=not progress, leave=False)):
            sample = info.process(raw)
            write_sample(stage, index, sample)
            records.append(sample_record(index, sample, sample_sources(raw.sources, raw_root, digests)))
            moments.append(channel_moments(sample.image))
            masks.append(sample.mask.astype(np.uint8))
        del raw_samples
        mean, std = dataset_mean_std(moments)
        metadata = build_metadata(info, records, mean, std, created_by)
        add_split_seed(stage, len(records), args.seed)
        metadata["maps"] = compute_maps(
            stage, args.maps, generators, masks, args.workers, progress, info.name
        )
        (stage / "maps").mkdir(exist_ok=True)
        atomic_write_json(stage / "metadata.json", metadata)
    return summary_line(metadata, time.perf_counter() - start, out)


def resolve_names(names: Sequence[str], raw_root: Path) -> list[DatasetRecord]:
    """``--dataset`` values -> registry entries; ``all`` = every set whose raw data is present."""
    infos: list[DatasetRecord] = []
    for name in names:
        if name == "all":
            present = [d for d in DATASETS.values() if d.present(raw_root)]
            if not present:
                raise DataError(f"--dataset all: no raw data set found under --raw-root {raw_root}")
            infos.extend(present)
        else:
            infos.append(get_dataset(name))
    return list(dict.fromkeys(infos))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python data/prepare.py",
        description="Turn raw data sets into the processed layout of docs/ARCHITECTURE.md §2.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--dataset",
        nargs="+",
        required=True,
        metavar="NAME",
        help=f"data sets to prepare: {', '.join(DATASETS)}, or all (those whose raw data is present)",
    )
    parser.add_argument(
        "--raw-root", default="data", help="folder holding the raw downloads (and synthetic/)"
    )
    parser.add_argument(
        "--out-root", default="data/processed", help="processed data sets go to OUT_ROOT/<name>/"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the 3-fold and train/val splits (splits.json key)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="rebuild an existing output folder (and a synthetic replica made with other settings)",
    )
    parser.add_argument(
        "--maps",
        nargs="+",
        default=list(MAP_NAMES),
        metavar="MAP",
        help=f"weight maps to precompute: any of {', '.join(MAP_NAMES)}, or none",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="worker processes for the map generators",
    )
    parser.add_argument(
        "--synth-samples",
        type=int,
        default=None,
        help="size of a synthetic replica (default: 12 for synth-drive/glas, 16 slices for synth-snemi3d)",
    )
    parser.add_argument("--synth-seed", type=int, default=0, help="seed of the synthetic replicas")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bars (also off when not a TTY)"
    )
    args = parser.parse_args(argv)
    maps = [] if args.maps == ["none"] else args.maps
    bad = [m for m in maps if m not in MAP_NAMES]
    if bad:
        parser.error(f"--maps: unknown map(s) {bad}; choose from {', '.join(MAP_NAMES)} or none")
    args.maps = list(dict.fromkeys(maps))
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    for flag, value in (("--seed", args.seed), ("--synth-seed", args.synth_seed)):
        if not 0 <= value < MAX_SEED:
            parser.error(f"{flag} must be an integer in [0, 2**32), got {value}")
    if args.synth_samples is not None and args.synth_samples < MIN_SYNTH_SAMPLES:
        parser.error(
            f"--synth-samples must be at least {MIN_SYNTH_SAMPLES} (3-fold splits), got {args.synth_samples}"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    created_by = {
        "command": "python data/prepare.py " + shlex.join(argv),
        "version": project_version(),
        "git_commit": git_commit(),
        "seed": args.seed,
    }
    try:
        infos = resolve_names(args.dataset, Path(args.raw_root))
        generators = load_map_generators() if args.maps else {}
        for info in infos:
            print(prepare_dataset(info, args, created_by, generators), flush=True)
    except (DataError, FileExistsError, NotADirectoryError, PermissionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
