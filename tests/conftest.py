"""Shared test fixtures: where the read-only real data lives, and a skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Real data, read-only, laid beside the checkout (../shared/data); CI has it there too.
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
#: Golden values from the paper-time code.
GOLDEN = REPO_ROOT.parent / "shared" / "reference" / "golden.npz"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test with a clear message when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (expected ../shared/data beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def golden():
    """The golden values of ../shared/reference/golden.npz as a dict of numpy arrays."""
    import numpy as np

    if not GOLDEN.is_file():
        pytest.skip(f"golden values not found at {GOLDEN}")
    with np.load(GOLDEN) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One intra-op thread for the whole suite.

    The suite's tensors are tiny: extra OpenMP threads add synchronisation, not speed, and on a
    busy 2-core machine two threads ran a tiny U-Net about 10x slower than one. Subprocess tests
    pass ``OMP_NUM_THREADS=1`` themselves.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
