"""Train the paper's U-Net with one loss on one data set (docs/METHOD.md §5-§6).

    python train.py --loss spw --dataset drive --profile cpu --fold 0
    torchrun --nproc_per_node=2 train.py --loss spw --dataset glas --profile paper --fold all

Writes ``<out>/<dataset>/<loss>[+k=v,...]/seed<S>/fold<k>/`` (docs/ARCHITECTURE.md §6).
The logic lives in :mod:`training`; this file only parses the command line.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import shlex
import sys
import warnings
from pathlib import Path

import torch

from common.names import did_you_mean
from data.processed import processed_root, resolve_split_seed
from data.registry import DATASETS
from data.verify import sample_sizes, verify_processed
from losses import ALIASES, LOSSES, build_loss, canonical_loss_name, loss_class, loss_run_name
from models.unet import SIZE_DIVISOR
from training.config import PROFILES, load_profile, normalize_crop, parse_loss_kwargs, resolve_recipe
from training.distributed import destroy_process_group, device_for, env_dist_info, init_process_group
from training.errors import TrainingError
from training.loop import run_folds, warn_amp_on_cpu
from training.run_files import RunSettings

FOLDS = ("0", "1", "2", "all")
#: Seeds must fit numpy's legacy seeding (unsigned 32 bits).
MAX_SEED = 2**32


def registered(kind: str, options) -> callable:
    """argparse ``type=`` that rejects unknown names with the options and a did-you-mean hint."""

    def check(name: str) -> str:
        if name not in options:
            raise argparse.ArgumentTypeError(did_you_mean(kind, name, options))
        return name

    return check


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def seed_int(text: str) -> int:
    """A seed numpy, torch and Python all accept: an integer in [0, 2**32)."""
    value = int(text)
    if not 0 <= value < MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {text}")
    return value


def device_arg(text: str) -> str:
    """A device string torch can parse (``cpu``, ``cuda``, ``cuda:1``, ``mps``…); availability is checked later."""
    try:
        torch.device(text)
    except (RuntimeError, ValueError) as err:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a torch device (e.g. cpu, cuda, cuda:0): {err}"
        ) from None
    return text


def check_crop(recipe: dict, metadata: dict, args: argparse.Namespace) -> None:
    """The training crop must suit the U-Net (sides divisible by 16) and the data set (no larger
    than its smallest sample); validation/test images (full padded size) must suit the U-Net too."""
    crop = recipe["crop"] or metadata.get("train_crop")
    source = (
        "--crop"
        if args.crop
        else (f"--profile {args.profile} (crop)" if recipe["crop"] else "metadata.json train_crop")
    )
    sizes = sample_sizes(metadata)
    if crop:
        if crop[0] % SIZE_DIVISOR or crop[1] % SIZE_DIVISOR:
            raise ValueError(
                f"{source} {crop[0]} {crop[1]}: the U-Net needs sides divisible by {SIZE_DIVISOR}"
            )
        small = min(sizes, key=lambda s: s[0] * s[1])
        if crop[0] > min(s[0] for s in sizes) or crop[1] > min(s[1] for s in sizes):
            raise ValueError(
                f"{source} {crop[0]} {crop[1]} is larger than sample size {small[0]}x{small[1]} "
                f"of data set {args.dataset!r}"
            )
    odd = [s for s in sizes if s[0] % SIZE_DIVISOR or s[1] % SIZE_DIVISOR]
    if odd:
        raise ValueError(
            f"{args.data_root / args.dataset / 'metadata.json'}: padded size {odd[0]} is not divisible "
            f"by {SIZE_DIVISOR}; rebuild it with data/prepare.py --overwrite"
        )


def check_paths(args: argparse.Namespace) -> None:
    """``--out`` must be a folder (or absent); ``--tensorboard`` needs its package."""
    for parent in (args.out, *args.out.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"--out {args.out}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"--out {args.out}: {parent} is not writable")
            break
    if args.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ValueError("--tensorboard needs the tensorboard package: pip install tensorboard")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train.py",
        description="Train the paper's U-Net with one loss on one processed data set and test the best checkpoint.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--loss",
        metavar="SPEC",
        help=f"a registered loss ({', '.join(LOSSES)}; aliases: {', '.join(ALIASES)}), a weighted sum "
        "such as 'ce + 0.5*dice' or 'dice+focal[gamma=2.5]', or a plugin 'package.module:Class' "
        "(see --list-losses)",
    )
    p.add_argument("--list-losses", action="store_true", help="print every available loss and exit")
    p.add_argument(
        "--loss-kwargs",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="loss constructor arguments, typed as bool (true/false), int, float or str; "
        "the run name becomes <loss>+k=v,... (sorted)",
    )
    p.add_argument(
        "--dataset",
        type=registered("dataset", DATASETS),
        choices=list(DATASETS),
        metavar="NAME",
        help=f"processed data set: {', '.join(DATASETS)}",
    )
    p.add_argument(
        "--data-root",
        type=Path,
        default=Path("data/processed"),
        help="folder holding the processed data sets (written by data/prepare.py)",
    )
    p.add_argument("--fold", choices=FOLDS, default="0", help="cross-validation fold, or all three in order")
    p.add_argument(
        "--seed",
        type=seed_int,
        default=0,
        help="seed of weights, sampling and augmentation; also the split seed of splits.json "
        "when the data set holds several",
    )
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="paper",
        help="training recipe from configs/profiles/<profile>.yaml",
    )
    p.add_argument("--epochs", type=positive_int, default=None, help="override the profile's epochs")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="override the profile's batch size (global: split over torchrun processes)",
    )
    p.add_argument(
        "--lr", type=positive_float, default=None, help="override the profile's Adam learning rate"
    )
    p.add_argument("--width", type=positive_int, default=None, help="override the profile's U-Net base width")
    p.add_argument(
        "--crop",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="N",
        help="override the profile's training crop: H [W]; None keeps the profile's",
    )
    p.add_argument(
        "--device",
        type=device_arg,
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch device (under torchrun each process takes cuda:LOCAL_RANK)",
    )
    p.add_argument(
        "--amp",
        action="store_true",
        help="mixed precision for the network (CUDA only; losses always run in float32)",
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic algorithms (torch.use_deterministic_algorithms)",
    )
    p.add_argument("--workers", type=non_negative_int, default=0, help="DataLoader worker processes")
    p.add_argument("--out", type=Path, default=Path("runs"), help="root folder of the run folders")
    p.add_argument("--resume", action="store_true", help="continue an unfinished run from its last.pt")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run folder and start again")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (also off when not a TTY)")
    p.add_argument(
        "--channels-last",
        action="store_true",
        help="keep the network's weights in channels-last (NHWC) memory: faster convolutions on CPU; "
        "results equal up to float summation order (recorded in config.json)",
    )
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard scalars to <run>/tensorboard (needs the tensorboard package)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="validate every argument with the profile, data set and loss, print the run, create nothing",
    )
    return p


def spec_from_args(args: argparse.Namespace, argv: list[str]) -> RunSettings:
    """Resolve profile, overrides, loss kwargs and split seed into :class:`RunSettings`."""
    if args.loss in LOSSES or args.loss in ALIASES:
        args.loss = canonical_loss_name(args.loss)
    cls = loss_class(args.loss)
    if args.loss_kwargs and cls is None:
        raise ValueError(
            f"--loss-kwargs: {args.loss!r} is a sum or a wrapped callable; give keywords inside "
            "each term's [...] instead"
        )
    loss_kwargs = parse_loss_kwargs(args.loss_kwargs, args.loss, cls) if args.loss_kwargs else {}
    loss = build_loss(args.loss, **loss_kwargs)  # checks a plugin on a tiny input before anything is created
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "width": args.width,
        "crop": normalize_crop(args.crop, "--crop"),
    }
    recipe = resolve_recipe(load_profile(args.profile), overrides, args.dataset)
    check_paths(args)
    maps = loss.required_maps
    root = processed_root(args.data_root, args.dataset, maps)
    check_crop(recipe, verify_processed(root, maps), args)
    return RunSettings(
        dataset=args.dataset,
        data_root=args.data_root,
        loss=args.loss,
        loss_kwargs=loss_kwargs,
        run_name=loss_run_name(args.loss, loss_kwargs),
        profile=args.profile,
        recipe=recipe,
        fold=0,
        seed=args.seed,
        split_seed=resolve_split_seed(root, args.seed),
        device=args.device,
        amp=args.amp,
        deterministic=args.deterministic,
        workers=args.workers,
        out=args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.no_progress and sys.stderr.isatty(),
        tensorboard=args.tensorboard,
        channels_last=args.channels_last,
        command=shlex.join([sys.executable, "train.py", *argv]),
    )


def loss_catalog() -> str:
    """The ``--list-losses`` text (imported here: the evaluation package costs about 1.4 s to import,
    which no training run needs to pay)."""
    from evaluation.naming import ROW_LABELS
    from losses.catalog import format_catalog
    from losses.recipes import recipe_rows

    return format_catalog(LOSSES, ROW_LABELS, recipe_rows(LOSSES))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_losses:
        print(loss_catalog())
        return 0
    if not args.loss or not args.dataset:
        parser.error(
            "the following arguments are required: "
            + ", ".join(f for f, v in (("--loss", args.loss), ("--dataset", args.dataset)) if not v)
        )
    info = env_dist_info()
    try:
        device = device_for(args.device, info)
        args.amp = warn_amp_on_cpu(
            device, args.amp, warn=lambda m: warnings.warn(m, UserWarning, stacklevel=2)
        )
        spec = spec_from_args(args, argv)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    folds = [0, 1, 2] if args.fold == "all" else [int(args.fold)]
    if args.check:
        print(
            f"train.py: arguments OK: {spec.dataset}/{spec.run_name}, seed {spec.seed}, fold(s) "
            f"{', '.join(map(str, folds))}, profile {spec.profile}, crop {spec.recipe['crop']}, "
            f"{spec.recipe['epochs']} epochs, on {device}"
        )
        return 0
    try:
        init_process_group(info, device)
        run_folds(spec, folds, info, device)
    except (TrainingError, FloatingPointError, FileNotFoundError, ValueError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 1
    finally:
        destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
