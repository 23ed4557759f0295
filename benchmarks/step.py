"""The model's own speed: optimiser steps on one fixed batch, no data pipeline at all.

    python -m benchmarks.step [--model small_cnn] [--size 28] [--steps 30]

The ceiling any training loop with this model can reach on this machine, in three layouts:
NCHW eager, channels_last eager (what trainable.train does), and channels_last with
torch.compile (the `compile` knob), whose warm-up (the compile) is printed apart.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from trainable.models import make_model


def steps_per_second(model: torch.nn.Module, forward, x, y, steps: int) -> tuple[float, float]:
    """(seconds of the first 3 steps, images/s of the next `steps`)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = F.cross_entropy(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    started = time.perf_counter()
    for _ in range(3):
        step()
    warm_up = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return warm_up, steps * len(y) / (time.perf_counter() - started)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="small_cnn")
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.size, args.size)
    y = torch.randint(0, 2, (args.batch,))
    print(f"{args.model}, {args.size} px, batch {args.batch}, {torch.get_num_threads()} threads")
    for layout in ("nchw", "channels_last", "channels_last+compile"):
        model = make_model(args.model, 1, 2, args.size)
        batch = x
        if layout != "nchw":
            model = model.to(memory_format=torch.channels_last)
            batch = x.contiguous(memory_format=torch.channels_last)
        forward = torch.compile(model) if layout.endswith("compile") else model
        warm_up, rate = steps_per_second(model, forward, batch, y, args.steps)
        print(f"{layout:22s} {rate:7,.0f} img/s   first 3 steps {warm_up:5.1f} s")


if __name__ == "__main__":
    main()
