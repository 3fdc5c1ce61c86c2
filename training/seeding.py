"""Seeds, determinism and per-sample augmentation seeds (exact resume rests on them).

- The order of training samples comes from a ``DistributedSampler`` (also with one process)
  whose permutation depends only on (seed, epoch);
- each training sample's augmentation draws from global generators reseeded from
  (seed, epoch, sample index) just before the sample is read (:class:`SeededSamples`).

So an epoch re-run after a resume, a run with another worker count, or the same global batch
split over torchrun processes sees the same samples with the same augmentations. The RNG
states are still saved in every checkpoint and restored on resume.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch.utils.data import Dataset


def derive_seed(*parts: int) -> int:
    """A 32-bit seed that depends on every part (NumPy's SeedSequence hashing)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global generator is what augmentation code draws from
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive Python/NumPy seeds from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    """``--deterministic``: deterministic kernels (torch warns, naming any op that has none)."""
    if deterministic:
        # cuBLAS needs this workspace setting for reproducible results (set before first use).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


class SeededSamples(Dataset):
    """Wrap a training data set so sample ``i`` of epoch ``e`` is augmented from seed (s, e, i).

    ``set_epoch`` must be called before each epoch's DataLoader iterator is created (the
    wrapper is copied into the workers at that moment).
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed, self.epoch = dataset, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        seed_everything(derive_seed(self.seed, self.epoch, i))
        return self.dataset[i]
