"""The one registry of data sets: one :class:`DatasetRecord` per name in :data:`DATASETS`.

A record holds every fact the suite needs about a data set: its raw layout and reader, how
a raw sample becomes a padded image and binary target, what class 1 means, the paper's
training crop, the metric family the evaluator applies, the printed label, the paper's data
set it stands in for, and where to get it. ``data/prepare.py``, the trainer and the evaluator
all look names up here. Adding a data set = one reader (and processor) plus one record
passed to :func:`register` (docs/ARCHITECTURE.md §1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from common.names import did_you_mean
from data import DataError
from data.monuseg import MONUSEG_DIR, process_monuseg, read_monuseg, write_synth_monuseg
from data.processing import (
    ProcessedSample,
    process_drive,
    process_glas,
    process_isbi2012,
    process_snemi3d,
    with_second_observer,
)
from data.raw import (
    DRIVE_DIR,
    GLAS_DIR,
    ISBI2012_DIR,
    SNEMI3D_DIRS,
    MissingRawDataError,
    RawSample,
    read_drive,
    read_glas,
    read_isbi2012,
    read_snemi3d,
)
from data.retina import (
    CHASE_DIR,
    STARE_DIR,
    process_vessels,
    read_chase_db1,
    read_stare,
    write_synth_chase_db1,
    write_synth_stare,
)
from data.synthetic import write_replica, write_synth_drive, write_synth_glas, write_synth_snemi3d

Reader = Callable[[Path], list[RawSample]]
Processor = Callable[[str, object, object, object], ProcessedSample]
#: Metric families of :func:`metrics.compute_metrics` (``metrics.FAMILIES``).
FAMILIES = ("drive", "glas", "em", "nuclei")


@dataclass(frozen=True)
class Synthetic:
    """An embedded replica of a raw layout: ``writer(top, samples, seed)`` fills ``<raw-root>/synthetic/<top>``."""

    writer: Callable[[Path, int, int], None]
    top: Path
    default_samples: int


@dataclass(frozen=True)
class DatasetRecord:
    """Static facts about one data set (docs/ARCHITECTURE.md §1-§2).

    ``raw_dirs``: top raw folders, any of which marks the set as present under a raw root;
    ``read``: raw reader (takes the folder holding ``raw_dirs``); ``process``: pads one raw
    sample and builds its binary target; ``class1``: what class 1 means; ``channels``: 3 (RGB)
    or 1; ``train_crop``: (H, W) of the paper's random training crop or None; ``family``: the
    metric family; ``label``: printed name; ``paper_counterpart``: the paper's data set whose
    Table 1 rows ours is compared with (None: no counterpart); ``synthetic``: the replica
    generator of a synthetic set.
    """

    name: str
    label: str
    raw_dirs: tuple[str, ...]
    read: Reader
    process_sample: Processor
    class1: str
    channels: int
    train_crop: tuple[int, int] | None
    has_fov: bool
    has_instances: bool
    family: str
    download: str
    paper_counterpart: str | None = None
    synthetic: Synthetic | None = None

    @property
    def is_synthetic(self) -> bool:
        return self.synthetic is not None

    @property
    def default_samples(self) -> int | None:
        return self.synthetic.default_samples if self.synthetic else None

    def raw_base(self, raw_root: Path) -> Path:
        """Folder holding this set's top raw folder: ``raw_root`` or ``raw_root/synthetic``."""
        return Path(raw_root) / "synthetic" if self.is_synthetic else Path(raw_root)

    def read_raw(self, raw_root: Path) -> list[RawSample]:
        """Read the raw samples; a missing folder's error names the download source too."""
        try:
            return self.read(self.raw_base(raw_root))
        except MissingRawDataError as err:
            if self.is_synthetic:
                raise
            raise DataError(
                f"{self.name}: {err} (raw data missing under --raw-root {raw_root}); download it from "
                f"{self.download} and unpack it so that {err.expected} exists"
            ) from err

    def present(self, raw_root: Path) -> bool:
        """Whether one of this set's top raw folders exists under ``raw_root``."""
        return any((self.raw_base(raw_root) / d).is_dir() for d in self.raw_dirs)

    def process(self, raw: RawSample) -> ProcessedSample:
        """Pad and build the binary target of one raw sample (:mod:`data.processing`)."""
        sample = self.process_sample(raw.id, raw.image, raw.label, raw.fov)
        return with_second_observer(sample, raw.label2)


DATASETS: dict[str, DatasetRecord] = {}


def register(record: DatasetRecord) -> DatasetRecord:
    """Add ``record`` to :data:`DATASETS` (a name may be registered once)."""
    if record.name in DATASETS:
        raise ValueError(f"data set {record.name!r} is registered already")
    if record.family not in FAMILIES:
        raise ValueError(f"data set {record.name!r}: family must be one of {FAMILIES}, got {record.family!r}")
    DATASETS[record.name] = record
    return record


def get_dataset(name: str) -> DatasetRecord:
    """Look ``name`` up in :data:`DATASETS`; DataError lists the names and suggests the nearest."""
    if name not in DATASETS:
        raise DataError(did_you_mean("--dataset", name, [*DATASETS, "all"]))
    return DATASETS[name]


def ensure_synthetic(name: str, synth_root: Path, samples: int, seed: int, regenerate: bool = False) -> bool:
    """Write the raw replica of the synthetic set ``name`` under ``synth_root`` unless an identical
    one is there (:func:`data.synthetic.write_replica`); True when it wrote it."""
    record = get_dataset(name)
    if record.synthetic is None:
        raise DataError(f"{name!r} is not a synthetic data set; it has no replica to write")
    synth = record.synthetic
    return write_replica(name, synth.writer, synth.top, Path(synth_root), samples, seed, regenerate)


_EMBEDDED = "embedded generator (data/synthetic.py)"


def replica(record: DatasetRecord, synthetic: Synthetic, train_crop: tuple[int, int] | None) -> DatasetRecord:
    """The synthetic replica of ``record``: the same layout, reader, processor and metric family, under
    ``<raw-root>/synthetic/``, with no paper counterpart; ``train_crop`` is scaled like its images."""
    return replace(
        record,
        name=f"synth-{record.name}",
        label=f"synth-{record.label}",
        train_crop=train_crop,
        download=_EMBEDDED,
        paper_counterpart=None,
        synthetic=synthetic,
    )


# Real data sets (the order prepare.py --dataset all follows; tables order by evaluation.naming).
DRIVE = register(
    DatasetRecord(
        "drive",
        "DRIVE",
        raw_dirs=(str(DRIVE_DIR),),
        read=read_drive,
        process_sample=process_drive,
        class1="vessel",
        channels=3,
        train_crop=None,
        has_fov=True,
        has_instances=False,
        family="drive",
        download="the DRIVE challenge page on grand-challenge.org (https://drive.grand-challenge.org/)",
        paper_counterpart="drive",
    )
)
GLAS = register(
    DatasetRecord(
        "glas",
        "GlaS",
        raw_dirs=(str(GLAS_DIR),),
        read=read_glas,
        process_sample=process_glas,
        class1="non-gland (stroma and padding)",
        channels=3,
        train_crop=(448, 576),
        has_fov=False,
        has_instances=True,
        family="glas",
        download="the Warwick GlaS challenge page (https://warwick.ac.uk/fac/cross_fac/tia/data/glascontest/) "
        "or its Kaggle mirror",
        paper_counterpart="glas",
    )
)
SNEMI3D = register(
    DatasetRecord(
        "snemi3d",
        "SNEMI3D",
        raw_dirs=SNEMI3D_DIRS,
        read=read_snemi3d,
        process_sample=process_snemi3d,
        class1="membrane (thick boundaries and unlabelled)",
        channels=1,
        train_crop=(512, 512),
        has_fov=False,
        has_instances=True,
        family="em",
        download="Zenodo record 7142003 (https://zenodo.org/records/7142003)",
        paper_counterpart="snemi3d",
    )
)
register(
    DatasetRecord(
        "isbi2012",
        "ISBI 2012",
        raw_dirs=(ISBI2012_DIR,),
        read=read_isbi2012,
        process_sample=process_isbi2012,
        class1="membrane (label 0)",
        channels=1,
        train_crop=None,
        has_fov=False,
        has_instances=False,
        family="em",
        download="the ISBI 2012 EM segmentation challenge (https://imagej.net/events/isbi-2012-segmentation-challenge)",
        # EM membranes at 512², the real stand-in for SNEMI3D, which cannot be obtained here
        paper_counterpart="snemi3d",
    )
)
# Replicas: the same readers, smaller images, crops scaled like their images (GlaS / 4, SNEMI3D / 2).
register(replica(DRIVE, Synthetic(write_synth_drive, Path("DRIVE"), 12), train_crop=None))
register(replica(GLAS, Synthetic(write_synth_glas, Path("GlaS"), 12), train_crop=(112, 144)))
register(replica(SNEMI3D, Synthetic(write_synth_snemi3d, Path("snemi3d"), 16), train_crop=(64, 64)))

# Issue 17: two more retinal vessel sets (DRIVE's recipe and metrics; FOV from the image) and
# MoNuSeg's official test split as the real histology instance set (512² crops of 1024², as SNEMI3D).
_VESSELS = dict(
    process_sample=process_vessels,
    class1="vessel",
    channels=3,
    train_crop=None,
    has_fov=True,
    has_instances=False,
    family="drive",
)
CHASE_DB1 = register(
    DatasetRecord(
        "chase_db1",
        "CHASE_DB1",
        raw_dirs=(str(CHASE_DIR),),
        read=read_chase_db1,
        download="Kingston University's CHASE_DB1 page (https://researchdata.kingston.ac.uk/96/), CHASEDB1.zip unpacked flat",
        **_VESSELS,
    )
)
STARE = register(
    DatasetRecord(
        "stare",
        "STARE",
        raw_dirs=(str(STARE_DIR),),
        read=read_stare,
        download="the STARE project page (https://cecas.clemson.edu/~ahoover/stare/probing/), the .gz files decompressed",
        **_VESSELS,
    )
)
MONUSEG = register(
    DatasetRecord(
        "monuseg",
        "MoNuSeg",
        raw_dirs=(str(MONUSEG_DIR),),
        read=read_monuseg,
        process_sample=process_monuseg,
        class1="nucleus",
        channels=3,
        train_crop=(512, 512),
        has_fov=False,
        has_instances=True,
        family="nuclei",
        download="the MoNuSeg 2018 challenge (https://monuseg.grand-challenge.org/), MoNuSegTestData.zip",
    )
)
register(replica(CHASE_DB1, Synthetic(write_synth_chase_db1, CHASE_DIR, 8), train_crop=None))
register(replica(STARE, Synthetic(write_synth_stare, STARE_DIR, 8), train_crop=None))
register(replica(MONUSEG, Synthetic(write_synth_monuseg, Path("MoNuSeg"), 6), train_crop=(128, 128)))
