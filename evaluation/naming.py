"""Names shared by every table and figure: Table 1 rows, metric columns, data set labels, run names.

The row order, labels and metric directions are those of the paper's Table 1 (docs/METHOD.md §8);
run names follow docs/ARCHITECTURE.md §6 (``loss`` or ``loss+k1=v1,k2=v2`` with sorted keys).
"""

from __future__ import annotations

from dataclasses import dataclass

from data.registry import DATASETS
from losses.recipes import recipe_labels

#: Table 1 rows in the paper's order: (run name, label). The label-only SPW variant is the
#: project's extra row (docs/METHOD.md §2: which variant made the paper's table is unknown).
PAPER_ROWS: tuple[tuple[str, str], ...] = (
    ("ce", "CE"),
    ("balanced_ce", "BCE"),
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
#: Run folders written before class-balanced CE was renamed ``balanced_ce`` are named ``bce``
#: (the paper's row name, still accepted by ``build_loss``); they print as the same row.
ROW_LABELS: dict[str, str] = {**dict(PAPER_ROWS), "bce": "BCE", **recipe_labels()}
SPW_RUN = "spw"
CE_RUN = "ce"
#: Run names whose row in configs/paper_table1.csv has another name (the paper calls class-balanced CE "BCE").
PAPER_TABLE_NAMES: dict[str, str] = {"balanced_ce": "bce"}


@dataclass(frozen=True)
class Metric:
    """One Table 1 column: CSV key, printed label, direction and printed decimals."""

    key: str
    label: str
    higher_is_better: bool
    decimals: int


#: Table 1 columns (docs/METHOD.md §7); VI printed with 2 decimals as in the paper, the others with 3.
PAPER_METRICS: tuple[Metric, ...] = (
    Metric("miou", "mIoU", True, 3),
    Metric("mdice", "mDice", True, 3),
    Metric("vi", "VI", False, 2),
    Metric("ari", "ARI", True, 3),
)

#: Columns every test_metrics.csv holds (docs/ARCHITECTURE.md §5-6); the rest are challenge metrics.
ALWAYS_METRICS: tuple[str, ...] = ("miou", "mdice", "vi", "vi_split", "vi_merge", "ari", "mhd")


def paper_counterpart(dataset: str) -> str | None:
    """The paper's data set whose published rows ``dataset`` is compared with (data-set record)."""
    record = DATASETS.get(dataset)
    return record.paper_counterpart if record else None


def row_label(run_name: str) -> str:
    """Printed row label of a run name; unknown variants print as their run name."""
    return ROW_LABELS.get(run_name, run_name)


def dataset_label(name: str) -> str:
    """Printed name of a data set (its record's label; unknown names print as themselves)."""
    record = DATASETS.get(name)
    return record.label if record else name


def order_rows(run_names) -> list[str]:
    """The paper's rows that are present, in the paper's order, then any other run names sorted."""
    present = set(run_names)
    order = [name for name, _ in PAPER_ROWS]
    order.insert(order.index("balanced_ce"), "bce")
    paper = [name for name in order if name in present]
    return paper + sorted(present - set(paper))


#: Table order of the metric families: the paper lists SNEMI3D, GlaS, DRIVE.
FAMILY_ORDER: tuple[str, ...] = ("em", "glas", "drive")


def _table_key(name: str) -> tuple[int, int, int]:
    """Real sets before replicas, then the paper's family order, then registry order."""
    record = DATASETS[name]
    family = FAMILY_ORDER.index(record.family) if record.family in FAMILY_ORDER else len(FAMILY_ORDER)
    return (int(record.is_synthetic), family, list(DATASETS).index(name))


def order_datasets(names) -> list[str]:
    """Registered names in table order (:func:`_table_key`), then unknown names sorted."""
    present = set(names)
    known = sorted((name for name in DATASETS if name in present), key=_table_key)
    return known + sorted(present - set(known))
