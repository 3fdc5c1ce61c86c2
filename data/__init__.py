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


__all__ = ["DataError"]
