"""``--list-losses``: every available loss with where it comes from, its maps, defaults and reference."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from .plugins import entry_point_losses
from .spec import constructor_parameters


def _reference(cls) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.splitlines()[0] if doc else ""


def catalog(registry: Mapping[str, type], labels: Mapping[str, str] | None = None) -> list[dict]:
    """One row per registered loss and installed entry point (entry points are not imported)."""
    labels = labels or {}
    rows = []
    for name, cls in registry.items():
        defaults = {
            k: p.default
            for k, p in constructor_parameters(cls).items()
            if p.default is not inspect.Parameter.empty
        }
        maps = [*cls.required_maps, *(["class weights"] if cls.needs_class_weight else [])]
        rows.append(
            {
                "name": name,
                "source": "built-in",
                "label": labels.get(name, ""),
                "maps": maps,
                "defaults": defaults,
                "reference": _reference(cls),
            }
        )
    for name, target in entry_point_losses().items():
        rows.append(
            {
                "name": name,
                "source": f"entry point ({target})",
                "label": "",
                "maps": [],
                "defaults": {},
                "reference": "",
            }
        )
    return rows


def format_catalog(
    registry: Mapping[str, type] | None = None,
    labels: Mapping[str, str] | None = None,
    recipes: Mapping[str, str] | None = None,
) -> str:
    """The ``--list-losses`` text."""
    if registry is None:
        from . import LOSSES as registry
    lines = []
    for row in catalog(registry, labels):
        kw = ", ".join(f"{k}={v!r}" for k, v in row["defaults"].items()) or "-"
        maps = ", ".join(row["maps"]) or "-"
        label = f" [{row['label']}]" if row["label"] else ""
        lines.append(
            f"{row['name']}{label}  ({row['source']})\n    maps: {maps}; defaults: {kw}\n    {row['reference']}"
        )
    if recipes:
        lines.append("\nbenchmark rows combining them (official recipes):")
        lines += [f"  {spec:32s} {label}" for spec, label in recipes.items()]
    lines.append(
        "\nAlso: weighted sums ('ce + 0.5*dice', 'dice+focal[gamma=2.5]') and plugins 'package.module:Class'."
    )
    return "\n".join(lines)
