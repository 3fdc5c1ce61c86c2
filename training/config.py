"""Training profiles and command-line overrides (typed ``--loss-kwargs`` live in :mod:`losses.spec`).

A profile (``configs/profiles/<name>.yaml``, see docs/METHOD.md §6 for ``paper``) fixes the
recipe; explicit command-line values override it. The resolved recipe is what
``config.json`` records (docs/ARCHITECTURE.md §6).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# Typed loss keywords belong to the loss library (one home); re-exported for the trainer's callers.
from losses.spec import coerce_to_default, constructor_parameters, parse_loss_kwargs, parse_scalar  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILE_DIR = REPO_ROOT / "configs" / "profiles"
PROFILES = ("paper", "cpu", "demo", "smoke")

#: Keys every profile must define, with the type each value must have.
RECIPE_KEYS: dict[str, type | tuple[type, ...]] = {
    "epochs": int,
    "batch_size": int,
    "lr": float,
    "lr_step": int,
    "lr_gamma": float,
    "clip_grad_norm": float,
    "width": int,
    "crop": (list, type(None)),
    # validate every N epochs (and after the last); the paper validates every epoch (1)
    "val_every": int,
}


def normalize_crop(value: Any, source: str) -> list[int] | None:
    """``None`` or one/two positive ints → ``None`` or ``[H, W]``; raise naming ``source``."""
    if value is None:
        return None
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(items, (list, tuple))
        or len(items) not in (1, 2)
        or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in items)
    ):
        raise ValueError(f"{source}: crop must be null or 1-2 positive ints (H W), got {value!r}")
    return [int(items[0]), int(items[-1])]


def validate_recipe(recipe: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Check that ``recipe`` has exactly :data:`RECIPE_KEYS` with sane values; return a clean copy."""
    missing = sorted(set(RECIPE_KEYS) - set(recipe))
    unknown = sorted(set(recipe) - set(RECIPE_KEYS) - {"description"})
    if missing or unknown:
        raise ValueError(
            f"{source}: recipe keys must be {sorted(RECIPE_KEYS)}; missing {missing}, unknown {unknown}"
        )
    out: dict[str, Any] = {}
    for key, kind in RECIPE_KEYS.items():
        value = recipe[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # YAML reads "5" as int; the recipe means 5.0
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"{source}: {key} must be {kind}, got {value!r}")
        out[key] = value
    out["crop"] = normalize_crop(out["crop"], source)
    for key in ("epochs", "batch_size", "lr_step", "width", "val_every"):
        if out[key] < 1:
            raise ValueError(f"{source}: {key} must be >= 1, got {out[key]}")
    for key in ("lr", "lr_gamma", "clip_grad_norm"):
        if not (math.isfinite(out[key]) and out[key] > 0):
            raise ValueError(f"{source}: {key} must be a finite positive number, got {out[key]}")
    return out


def load_profile(name: str, profile_dir: Path = PROFILE_DIR) -> dict[str, Any]:
    """Read ``<profile_dir>/<name>.yaml`` and validate it (keys of :data:`RECIPE_KEYS`)."""
    path = Path(profile_dir) / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"profile file {path} not found; profiles: {', '.join(PROFILES)}")
    with path.open() as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of recipe keys, got {type(data).__name__}")
    per_dataset = data.pop("datasets", None) or {}
    recipe = validate_recipe(data, str(path))
    recipe[PER_DATASET] = {
        name: check_dataset_entry(entry, f"{path}: datasets.{name}")
        for name, entry in _mapping(per_dataset, f"{path}: datasets").items()
    }
    return recipe


#: Key of a loaded profile holding its per-data-set overrides (never part of a resolved recipe).
PER_DATASET = "datasets"


def _mapping(value: Any, source: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{source}: expected a mapping, got {type(value).__name__}")
    return value


def check_dataset_entry(entry: Any, source: str) -> dict[str, Any]:
    """A profile's per-data-set override: a mapping of recipe keys only (validated when resolved)."""
    unknown = sorted(set(_mapping(entry, source)) - set(RECIPE_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown recipe keys {unknown}; allowed: {sorted(RECIPE_KEYS)}")
    return dict(entry)


def resolve_recipe(
    profile: Mapping[str, Any], overrides: Mapping[str, Any], dataset: str | None = None
) -> dict[str, Any]:
    """The profile, then its ``datasets.<dataset>`` entry, then every non-``None`` override (flags win)."""
    merged = {k: v for k, v in profile.items() if k != PER_DATASET}
    merged.update(profile.get(PER_DATASET, {}).get(dataset, {}))
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return validate_recipe(merged, "command-line overrides")
