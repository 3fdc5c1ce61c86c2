"""The torch data set over a processed data set (docs/ARCHITECTURE.md §3).

``SegmentationDataset(root, split, fold, seed=0, maps=(), augment=None, crop=None)``;
``ds[i] -> (image float32 (C,H,W) normalized, target int64 (H,W), extras)`` with
``extras["class_weight"]`` float32 (2,), ``extras["index"]`` int64 scalar, ``extras["fov"]``
bool (H,W) where the data set has one, and each requested map float32 (C,H,W) (``wce``:
(1,H,W)).

Augmentation (docs/METHOD.md §4.5): random crop where the data set has one, horizontal and
vertical flips with p = 0.5 each, drawn once per sample and applied jointly to image,
target, fov and maps. It uses torchvision's v2 transforms: tv_tensors mark the image as an
image and every per-pixel map as a ``Mask``, so one transform call moves all of them
together (masks are never interpolated). Randomness comes from torch's global generator,
which DataLoader seeds per worker. Validation and test return full padded images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from data import DataError
from data.files import read_json
from losses.maps import MAP_CHANNELS

SPLITS = ("train", "val", "test")


def _read_png(path: Path) -> np.ndarray:
    """A processed PNG as a uint8 array; DataError naming the file if it is missing or unreadable."""
    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read {path}: {err}") from err


def build_augmentation(crop: tuple[int, int] | None) -> v2.Compose:
    """The paper's training augmentation: optional random crop (H, W), then H and V flips (p = 0.5)."""
    steps = [v2.RandomCrop(tuple(crop))] if crop else []
    steps += [v2.RandomHorizontalFlip(p=0.5), v2.RandomVerticalFlip(p=0.5)]
    return v2.Compose(steps)


class SegmentationDataset(torch.utils.data.Dataset):
    """One split of one fold of a processed data set (``<out-root>/<name>/``).

    Args:
        root: processed data set folder (holds metadata.json and splits.json).
        split: "train", "val" or "test".
        fold: fold number in [0, number of folds).
        seed: split seed, the key of splits.json (``prepare.py --seed``).
        maps: names of precomputed maps to deliver in ``extras`` (subset of wce, abw, skea_topo).
        augment: training augmentation on/off; default ``split == "train"``.
        crop: ``(H, W)`` of the random training crop, overriding the data set's ``train_crop``;
            applied only with augmentation (validation and test are full padded images).
    """

    def __init__(
        self, root, split: str, fold: int, seed: int = 0, maps=(), augment: bool | None = None, crop=None
    ):
        self.root = Path(root)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        for name in ("metadata.json", "splits.json"):
            if not (self.root / name).is_file():
                raise DataError(
                    f"{self.root / name} not found: {self.root} is not a prepared data set (run data/prepare.py)"
                )
        self.metadata = read_json(self.root / "metadata.json")
        splits = read_json(self.root / "splits.json")["splits"]
        if str(seed) not in splits:
            raise DataError(
                f"{self.root / 'splits.json'} has no splits for seed {seed} (has {sorted(splits, key=int)}); "
                f"run python data/prepare.py --dataset {self.metadata['name']} --seed {seed}"
            )
        folds = splits[str(seed)]
        if not 0 <= fold < len(folds):
            raise ValueError(f"fold must be in [0, {len(folds)}), got {fold}")
        self.split, self.fold, self.seed = split, fold, seed
        self.indices: list[int] = [int(i) for i in folds[fold][split]]
        self.sample_ids: list[str] = [self.metadata["samples"][i]["id"] for i in self.indices]

        self.maps = tuple(maps)
        for name in self.maps:
            if name not in MAP_CHANNELS:
                raise ValueError(f"unknown map {name!r}; maps are {sorted(MAP_CHANNELS)}")
            if name not in self.metadata.get("maps", {}):
                raise DataError(
                    f"{self.root} has no precomputed {name!r} maps; run python data/prepare.py "
                    f"--dataset {self.metadata['name']} --maps {name}"
                )
        self.has_fov = (self.root / "fov").is_dir()

        self.augment = split == "train" if augment is None else bool(augment)
        own_crop = self.metadata.get("train_crop")
        self.crop = tuple(crop) if crop is not None else (tuple(own_crop) if own_crop else None)
        if self.crop is not None and (len(self.crop) != 2 or min(self.crop) < 1):
            raise ValueError(f"crop must be (H, W) with positive sides, got {crop}")
        self.transform = build_augmentation(self.crop) if self.augment else None

        channels = self.metadata["channels"]
        self.mean = torch.tensor(self.metadata["mean"], dtype=torch.float32).view(channels, 1, 1)
        self.std = torch.tensor(self.metadata["std"], dtype=torch.float32).view(channels, 1, 1)

    def __len__(self) -> int:
        return len(self.indices)

    def _path(self, folder: str, index: int, ext: str = "png") -> Path:
        return self.root / folder / f"{index:03d}.{ext}"

    def _load_map(self, name: str, index: int) -> torch.Tensor:
        path = self._path(f"maps/{name}", index, "npy")
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DataError(f"cannot read map {path}: {err}") from err
        array = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        return array.unsqueeze(0) if array.ndim == 2 else array  # wce is stored (H,W)

    def __getitem__(self, i: int):
        index = self.indices[i]
        image = torch.from_numpy(_read_png(self._path("images", index)).copy())
        image = image.unsqueeze(0) if image.ndim == 2 else image.permute(2, 0, 1)
        target = torch.from_numpy(_read_png(self._path("masks", index)) > 127).to(torch.int64)
        if target.shape != image.shape[1:]:
            raise DataError(
                f"{self._path('masks', index)}: mask {tuple(target.shape)} does not match image {tuple(image.shape)}"
            )
        sample = {"image": tv_tensors.Image(image), "target": tv_tensors.Mask(target)}
        if self.has_fov:
            sample["fov"] = tv_tensors.Mask(torch.from_numpy(_read_png(self._path("fov", index)) > 127))
        for name in self.maps:
            sample[name] = tv_tensors.Mask(self._load_map(name, index))
        if self.transform is not None:
            h, w = image.shape[1:]
            if self.crop is not None and (self.crop[0] > h or self.crop[1] > w):
                raise ValueError(f"crop {self.crop} is larger than sample {index} ({h}x{w}) of {self.root}")
            sample = self.transform(sample)

        image = (sample["image"].as_subclass(torch.Tensor).to(torch.float32) / 255.0 - self.mean) / self.std
        extras = {
            "class_weight": torch.tensor(
                self.metadata["samples"][index]["class_weight"], dtype=torch.float32
            ),
            "index": torch.tensor(index, dtype=torch.int64),
        }
        if self.has_fov:
            extras["fov"] = sample["fov"].as_subclass(torch.Tensor).to(torch.bool)
        for name in self.maps:
            extras[name] = sample[name].as_subclass(torch.Tensor).to(torch.float32)
        return image.contiguous(), sample["target"].as_subclass(torch.Tensor).contiguous(), extras

    def load_instances(self, i: int) -> np.ndarray | None:
        """Instance ids int32 ``(H,W)`` of the i-th sample of this split (full padded size), or None."""
        path = self._path("instances", self.indices[i], "npy")
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False).astype(np.int32, copy=False)
        except (OSError, ValueError, EOFError) as err:
            raise DataError(f"cannot read instances {path}: {err}") from err
