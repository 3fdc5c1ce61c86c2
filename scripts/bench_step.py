"""Time one training step of the paper's U-Net in the default and in channels-last memory, interleaved.

    python scripts/bench_step.py --width 12 --shape 4x192x192 --steps 12 --threads 1

Each round runs one CE step (forward, backward, Adam) of each variant, so both see the same machine load;
the medians over the rounds after ``--warmup`` and their ratio are printed with the environment. This is
the measurement behind ``train.py --channels-last``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from models import UNet
from training.device import device_name, versions


def step_seconds(model: torch.nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=12, help="U-Net base width (cpu profile: 12)")
    p.add_argument("--shape", default="4x192x192", help="BxHxW of the batch (cpu profile: 4x192x192)")
    p.add_argument("--steps", type=int, default=12, help="rounds (each times both variants)")
    p.add_argument("--warmup", type=int, default=2, help="untimed first rounds")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    b, h, w = (int(v) for v in args.shape.split("x"))
    if args.steps <= args.warmup or min(b, h, w, args.width, args.threads) < 1 or h % 16 or w % 16:
        p.error("need --steps > --warmup, positive sizes, and H, W multiples of 16")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = torch.randn(b, 3, h, w), torch.randint(0, 2, (b, h, w))
    variants = {}
    for name, fmt in (("default", torch.contiguous_format), ("channels_last", torch.channels_last)):
        model = UNet(in_channels=3, width=args.width).to(memory_format=fmt)
        variants[name] = (model, torch.optim.Adam(model.parameters(), lr=2e-3), [])
    for r in range(args.steps):
        for model, optimizer, times in variants.values():
            seconds = step_seconds(model, optimizer, x, y)
            if r >= args.warmup:
                times.append(seconds)
    medians = {name: statistics.median(v[2]) for name, v in variants.items()}
    v = versions()
    print(
        f"torch {v['torch']}, {args.threads} thread(s), {device_name(torch.device('cpu'))}; U-Net width "
        f"{args.width}, batch {args.shape}; median of {args.steps - args.warmup} interleaved steps"
    )
    for name, seconds in medians.items():
        print(f"{name:14s} {seconds:.4f} s")
    print(f"ratio channels_last / default: {medians['channels_last'] / medians['default']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
