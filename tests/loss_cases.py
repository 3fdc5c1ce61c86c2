"""Inputs and a descent loop shared by the tests of the newer losses."""

from __future__ import annotations

import numpy as np
import torch


def official_case(seed: int = 0):
    """Two 24×28 targets of random bars and dots, logits ``randn`` (seeded) — the inputs on which the
    official skeleton-recall, clCE and cbDice code was run to produce their tests' reference numbers."""
    rng = np.random.default_rng(seed)
    t = np.zeros((2, 24, 28), np.int64)
    for b in range(2):
        for _ in range(4):
            r, c = rng.integers(0, 24), rng.integers(0, 28)
            if rng.random() < 0.5:
                t[b, max(r - 1, 0) : r + 2, :] = 1
            else:
                t[b, :, max(c - rng.integers(0, 3), 0) : c + 2] = 1
        t[b, rng.integers(0, 24, 5), rng.integers(0, 28, 5)] = 1
    logits = torch.randn(
        2, 2, 24, 28, generator=torch.Generator().manual_seed(100 + seed), dtype=torch.float64
    )
    return logits, torch.from_numpy(t)


def descend(
    loss, logits: torch.Tensor, target: torch.Tensor, steps: int = 40, lr: float = 0.1
) -> list[float]:
    """Adam on free ``logits`` (a leaf requiring grad) for ``steps``; the loss value before each step."""
    optimizer = torch.optim.Adam([logits], lr=lr)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        value = loss(logits, target)
        value.backward()
        optimizer.step()
        history.append(value.item())
    return history
