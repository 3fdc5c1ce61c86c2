"""The benchmark grid: plan, one function per run, backends (local, Ray, Slurm), CLI (docs/GRID.md)."""
