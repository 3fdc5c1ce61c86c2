"""Names shared by every table and figure: Table 1 rows, metric columns, data set labels, run names.

The row order, labels and metric directions are those of the paper's Table 1 (PAPER_SPEC §8);
run names follow docs/ARCHITECTURE.md §6 (``loss`` or ``loss+k1=v1,k2=v2`` with sorted keys).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Table 1 rows in the paper's order: (run name, label). The label-only SPW variant is the
#: project's extra row (PAPER_SPEC §2: which variant made the paper's table is unknown).
PAPER_ROWS: tuple[tuple[str, str], ...] = (
    ("ce", "CE"),
    ("bce", "BCE"),
    ("dice", "Dice"),
    ("focal", "Focal"),
    ("jaccard", "Jaccard"),
    ("tversky", "Tversky"),
    ("wce", "WCE"),
    ("abw", "ABW"),
    ("skea_topo", "Skea-topo"),
    ("rmi", "RMI"),
    ("cldice", "clDice"),
    ("spw", "SPW"),
    ("spw+use_prediction=False", "SPW (label only)"),
)
ROW_LABELS: dict[str, str] = dict(PAPER_ROWS)
SPW_RUN = "spw"
CE_RUN = "ce"


@dataclass(frozen=True)
class Metric:
    """One Table 1 column: CSV key, printed label, direction and printed decimals."""

    key: str
    label: str
    higher_is_better: bool
    decimals: int


#: Table 1 columns (PAPER_SPEC §7); VI printed with 2 decimals as in the paper, the others with 3.
PAPER_METRICS: tuple[Metric, ...] = (
    Metric("miou", "mIoU", True, 3),
    Metric("mdice", "mDice", True, 3),
    Metric("vi", "VI", False, 2),
    Metric("ari", "ARI", True, 3),
)

#: Columns every test_metrics.csv holds (docs/ARCHITECTURE.md §5-6); the rest are challenge metrics.
ALWAYS_METRICS: tuple[str, ...] = ("miou", "mdice", "vi", "vi_split", "vi_merge", "ari", "mhd")

#: Printed data set names, in the order tables list them (paper's order first).
DATASET_LABELS: dict[str, str] = {
    "snemi3d": "SNEMI3D",
    "isbi2012": "ISBI 2012",
    "glas": "GlaS",
    "drive": "DRIVE",
    "chase_db1": "CHASE_DB1",
    "stare": "STARE",
    "monuseg": "MoNuSeg",
    "synth-snemi3d": "synth-SNEMI3D",
    "synth-glas": "synth-GlaS",
    "synth-drive": "synth-DRIVE",
    "synth-chase_db1": "synth-CHASE_DB1",
    "synth-stare": "synth-STARE",
    "synth-monuseg": "synth-MoNuSeg",
}

#: The paper's data set each of ours is compared with in table1_vs_paper. ISBI 2012 (EM membranes,
#: 512²) stands in for SNEMI3D, which cannot be obtained here; synthetic sets have no counterpart.
PAPER_COUNTERPART: dict[str, str] = {"snemi3d": "snemi3d", "isbi2012": "snemi3d", "glas": "glas", "drive": "drive"}


def row_label(run_name: str) -> str:
    """Printed row label of a run name; unknown variants print as their run name."""
    return ROW_LABELS.get(run_name, run_name)


def dataset_label(name: str) -> str:
    return DATASET_LABELS.get(name, name)


def order_rows(run_names) -> list[str]:
    """The paper's rows that are present, in the paper's order, then any other run names sorted."""
    present = set(run_names)
    paper = [name for name, _ in PAPER_ROWS if name in present]
    return paper + sorted(present - set(paper))


def order_datasets(names) -> list[str]:
    present = set(names)
    known = [name for name in DATASET_LABELS if name in present]
    return known + sorted(present - set(known))


def split_run_name(run_name: str) -> tuple[str, dict[str, str]]:
    """``"spw+use_prediction=False"`` → ``("spw", {"use_prediction": "False"})`` (values stay strings).

    Raises:
        ValueError: a ``+`` part that is not ``k=v`` pairs separated by commas.
    """
    loss, sep, rest = run_name.partition("+")
    if not loss:
        raise ValueError(f"run name {run_name!r} has no loss name before '+'")
    kwargs: dict[str, str] = {}
    if sep:
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key or not value:
                raise ValueError(f"run name {run_name!r}: expected 'loss+k1=v1,k2=v2', got part {item!r}")
            kwargs[key] = value
    return loss, kwargs


def join_run_name(loss: str, kwargs: dict[str, object] | None = None) -> str:
    """Inverse of :func:`split_run_name`: keys sorted, as train.py names its run folders."""
    if not kwargs:
        return loss
    return loss + "+" + ",".join(f"{k}={kwargs[k]}" for k in sorted(kwargs))
