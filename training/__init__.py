"""The trainer behind ``train.py`` (docs/METHOD.md §5-§6, docs/ARCHITECTURE.md §6).

Modules: ``config`` (profiles, overrides, typed ``--loss-kwargs``, run names), ``splits``
(processed-data checks and the split seed), ``checkpoint`` (complete checkpoints with RNG
states, atomic CSVs), ``distributed`` (torchrun/DDP plumbing), ``loop`` (one run: epochs,
validation, best checkpoint, test, run-folder outputs).
"""
