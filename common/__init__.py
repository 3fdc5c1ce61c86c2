"""The suite's foundation: standard-library helpers that every room may import.

- :mod:`common.names`: the one "unknown name, did you mean …?" helper of every registry
  (losses, data sets, profiles, metrics);
- :mod:`common.run_folder`: the run-folder contract (path, run name, files, finished);
- :mod:`common.provenance`: version, git commit and environment stamps.

Nothing here imports another package of the suite or a third-party library, so the loss and
metric libraries may use it without depending on the pipeline (docs/ARCHITECTURE.md §0).
"""
