"""One "did you mean …?" helper for every registry of the suite (losses, data sets, profiles, metrics)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")


def did_you_mean(kind: str, name: str, options: Iterable[str]) -> str:
    """Message for an unknown ``name`` of ``kind``: the options and the nearest one, if any.

    >>> did_you_mean("loss", "spv", ["ce", "spw"])
    "unknown loss 'spv'; choose from: ce, spw. Did you mean 'spw'?"
    """
    options = list(options)
    close = difflib.get_close_matches(str(name), options, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}; choose from: {', '.join(options)}.{hint}"


def lookup(kind: str, name: str, registry: Mapping[str, T], error: type[Exception] = ValueError) -> T:
    """``registry[name]``, or ``error`` with :func:`did_you_mean`'s message."""
    if name not in registry:
        raise error(did_you_mean(kind, name, registry))
    return registry[name]
