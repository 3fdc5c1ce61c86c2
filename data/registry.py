"""The one registry of data sets: ``DATASETS[name] -> DatasetInfo``.

It drives ``prepare.py --dataset`` choices, the readers and processors used per name,
the synthetic replicas, and the error for an unknown name (with did-you-mean).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from data import DataError
from data.processing import PROCESSORS, with_second_observer
from data.raw import READERS, MissingRawDataError, RawSample, raw_present
from data.synthetic import SYNTH_WRITERS


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about one data set (PAPER_SPEC §4, docs/ARCHITECTURE.md §1-§2).

    ``reader``: key of :data:`data.raw.READERS` / :data:`data.processing.PROCESSORS`;
    ``class1``: what class 1 means; ``channels``: 3 (RGB) or 1; ``train_crop``: (H, W) of the
    random training crop or None; ``default_samples``: replica size (synthetic sets only).
    """

    name: str
    reader: str
    class1: str
    channels: int
    train_crop: tuple[int, int] | None
    has_fov: bool
    has_instances: bool
    download: str
    synthetic: Callable[[Path, int, int], None] | None = None
    default_samples: int | None = None

    @property
    def is_synthetic(self) -> bool:
        return self.synthetic is not None

    def raw_base(self, raw_root: Path) -> Path:
        """Folder holding this set's top raw folder: ``raw_root`` or ``raw_root/synthetic``."""
        return raw_root / "synthetic" if self.is_synthetic else raw_root

    def read(self, raw_root: Path) -> list[RawSample]:
        """Read the raw samples; a missing folder's error names the download source too."""
        try:
            return READERS[self.reader](self.raw_base(raw_root))
        except MissingRawDataError as err:
            if self.is_synthetic:
                raise
            raise DataError(
                f"{self.name}: {err} (raw data missing under --raw-root {raw_root}); download it from "
                f"{self.download} and unpack it so that {err.expected} exists"
            ) from err

    def present(self, raw_root: Path) -> bool:
        """Whether this set's raw folder exists under ``raw_root``."""
        return raw_present(self.reader, self.raw_base(raw_root))

    def process(self, raw: RawSample):
        """Pad and build the binary target of one raw sample (:mod:`data.processing`)."""
        sample = PROCESSORS[self.reader](raw.id, raw.image, raw.label, raw.fov)
        return with_second_observer(sample, raw.label2)


_DRIVE_URL = "the DRIVE challenge page on grand-challenge.org (https://drive.grand-challenge.org/)"
_GLAS_URL = (
    "the Warwick GlaS challenge page (https://warwick.ac.uk/fac/cross_fac/tia/data/glascontest/) "
    "or its Kaggle mirror"
)
_SNEMI_URL = "Zenodo record 7142003 (https://zenodo.org/records/7142003)"
_ISBI_URL = "the ISBI 2012 EM segmentation challenge (https://imagej.net/events/isbi-2012-segmentation-challenge)"
_CHASE_URL = "Kingston University's CHASE_DB1 page (https://researchdata.kingston.ac.uk/96/), CHASEDB1.zip unpacked flat"
_STARE_URL = "the STARE project page (https://cecas.clemson.edu/~ahoover/stare/probing/), the .gz files decompressed"
_MONUSEG_URL = "the MoNuSeg 2018 challenge (https://monuseg.grand-challenge.org/), MoNuSegTestData.zip"
_SYNTH = "embedded generator (data/synthetic.py)"

DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo("drive", "drive", "vessel", 3, None, True, False, _DRIVE_URL),
        DatasetInfo("glas", "glas", "non-gland (stroma and padding)", 3, (448, 576), False, True, _GLAS_URL),
        DatasetInfo("snemi3d", "snemi3d", "membrane (thick boundaries and unlabelled)", 1, (512, 512), False, True, _SNEMI_URL),
        DatasetInfo("isbi2012", "isbi2012", "membrane (label 0)", 1, None, False, False, _ISBI_URL),
        # replicas: same readers, smaller images, crops scaled like their images (GlaS / 4, SNEMI3D / 2)
        DatasetInfo("synth-drive", "drive", "vessel", 3, None, True, False, "embedded generator (data/synthetic.py)",
                    SYNTH_WRITERS["synth-drive"][0], 12),
        DatasetInfo("synth-glas", "glas", "non-gland (stroma and padding)", 3, (112, 144), False, True,
                    "embedded generator (data/synthetic.py)", SYNTH_WRITERS["synth-glas"][0], 12),
        DatasetInfo("synth-snemi3d", "snemi3d", "membrane (thick boundaries and unlabelled)", 1, (64, 64), False, True,
                    "embedded generator (data/synthetic.py)", SYNTH_WRITERS["synth-snemi3d"][0], 16),
        # issue 17: vessel sets train on full images like DRIVE; MoNuSeg on 512² crops of 1024² (as SNEMI3D)
        DatasetInfo("chase_db1", "chase_db1", "vessel", 3, None, True, False, _CHASE_URL),
        DatasetInfo("stare", "stare", "vessel", 3, None, True, False, _STARE_URL),
        DatasetInfo("monuseg", "monuseg", "nucleus", 3, (512, 512), False, True, _MONUSEG_URL),
        DatasetInfo("synth-chase_db1", "chase_db1", "vessel", 3, None, True, False, _SYNTH, SYNTH_WRITERS["synth-chase_db1"][0], 8),
        DatasetInfo("synth-stare", "stare", "vessel", 3, None, True, False, _SYNTH, SYNTH_WRITERS["synth-stare"][0], 8),
        DatasetInfo("synth-monuseg", "monuseg", "nucleus", 3, (128, 128), False, True, _SYNTH, SYNTH_WRITERS["synth-monuseg"][0], 6),
    )
}


def get_dataset(name: str) -> DatasetInfo:
    """Look ``name`` up in :data:`DATASETS`; DataError lists the names and suggests the nearest."""
    if name not in DATASETS:
        close = difflib.get_close_matches(name, DATASETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(f"unknown --dataset {name!r}; known: {', '.join(DATASETS)}, all.{hint}")
    return DATASETS[name]
