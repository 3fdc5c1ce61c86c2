"""Data layer: raw readers, processing, synthetic replicas, ``prepare.py`` CLI and the torch data set.

The processed layout and the data set API are the contracts of docs/ARCHITECTURE.md §2-§3.
This package module stays import-light (no torch): it only holds the error type that every
stage of the data layer raises for bad input.
"""

from __future__ import annotations


class DataError(ValueError):
    """Bad input to the data layer (missing or unreadable file, wrong shape, unexpected values).

    The message always names the file or argument at fault and what was expected.
    """


def deferred(module: str, name: str):
    """A function that imports ``module`` and calls its ``name`` on first use.

    The registries of :mod:`data.raw`, :mod:`data.processing` and :mod:`data.synthetic` list
    functions of the per-data-set modules (``data/retina.py``, ``data/monuseg.py``), which import
    those registries' modules themselves: deferring the import breaks the cycle.
    """

    def call(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"{module}.{name}, imported on first call."
    return call


__all__ = ["DataError", "deferred"]
