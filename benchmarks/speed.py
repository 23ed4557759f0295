"""How fast one trial trains on this CPU, what share of its float32 peak that is, and what
bfloat16 autocast changes: speed, and the references' validation scores.

    python -m benchmarks.speed                 # about 5 minutes on 2 cores; run it alone
    python -m benchmarks.speed --json benchmarks/speed.json

Three parts, each written to the JSON with its provenance:
- `peak`: the attainable arithmetic rate of one thread, a large matrix product in float32 and
  bfloat16 (the yardstick for "share of peak"; a convolution cannot beat it);
- `steps`: optimisation steps of the small CNN on one fixed batch of 28 px images, one thread
  (a search trial's share of a 2-core machine), per precision and memory layout, batch 128,
  and the model's floating-point operations per image (torch's FlopCounterMode), so images per
  second times operations per image over the peak is the share of it the loop reaches; then
  the 2 cores as one trial of 2 threads or two trials of one (the search's default), and batch
  sizes 64, 128 and 256 (the search's choices);
- `references`: the plain baseline and the seed recipe trained for the default search's 10
  epochs on PneumoniaMNIST in each precision, two at a time (one thread each, as a search
  runs them): best validation balanced accuracy, and the seconds the optimisation took.
  bfloat16 is kept only while each reference stays within one validation image (1 / 270).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.fidelity import DATA_DIR
from trainable.files import write_text

DATA = DATA_DIR / "pneumoniamnist" / "pneumoniamnist.npz"
JSON = Path("benchmarks/speed.json")
BATCH = 128


def matmul_gflops(dtype, size: int = 1024, repeats: int = 20) -> float:
    import torch

    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def step_rate(
    precision: str, channels_last: bool, steps: int = 20, batch: int = BATCH, threads: int = 1
) -> float:
    """Images per second of forward, backward and AdamW steps on one 28 px batch."""
    import torch
    import torch.nn.functional as F

    from trainable.models import autocast_dtype, make_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = make_model("small_cnn", 1, 2, 28)
    x = torch.randn(batch, 1, 28, 28)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    dtype = autocast_dtype(torch.device("cpu"), precision)

    def step() -> None:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - started)


def one_thread_rate(batch: int) -> float:
    return step_rate("auto", True, batch=batch)


def flops_per_image() -> float:
    """Forward and backward floating-point operations of one 28 px image."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from trainable.models import make_model

    model = make_model("small_cnn", 1, 2, 28)
    x, y = torch.randn(BATCH, 1, 28, 28), torch.randint(0, 2, (BATCH,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / BATCH


def train_reference(job: tuple[str, str]) -> dict:
    """One reference for 10 epochs at one precision, one thread."""
    import torch

    from trainable.config import BASELINE, SEED_RECIPE, TrainConfig
    from trainable.data import load_data
    from trainable.loop import train

    torch.set_num_threads(1)
    name, precision = job
    knobs = {"baseline": BASELINE, "seed_recipe": SEED_RECIPE}[name]
    cfg = TrainConfig.from_dict({**knobs, "epochs": 10, "precision": precision})
    history = []
    train(cfg, load_data(str(DATA)), lambda m, state: history.append(m), robust_score=False)
    return {
        "reference": name,
        "precision": precision,
        "best_val_balanced_accuracy": max(h["val_balanced_accuracy"] for h in history),
        "train_s": sum(h["train_time_s"] for h in history),
        "epoch_s": [round(h["epoch_time_s"], 2) for h in history],
    }


def main() -> None:
    import torch

    from benchmarks.provenance import provenance
    from trainable.models import cpu_has_bf16

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=JSON)
    args = p.parse_args()
    torch.set_num_threads(1)
    peak = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    per_image = flops_per_image()
    steps = {}
    for precision in ("fp32", "bf16"):
        for layout, channels_last in (("nchw", False), ("channels_last", True)):
            rate = step_rate(precision, channels_last)
            steps[f"{precision} {layout}"] = {
                "images_per_s": rate,
                "share_of_fp32_peak": rate * per_image / (peak["fp32"] * 1e9),
            }
            print(f"{precision} {layout}: {rate:.0f} img/s", flush=True)
    # the machine's 2 cores: one trial of 2 threads, or two trials of one thread at once
    cores = {"one trial, 2 threads": step_rate("auto", True, threads=2)}
    with ProcessPoolExecutor(2) as pool:
        cores["two trials, 1 thread each"] = sum(pool.map(one_thread_rate, [BATCH, BATCH]))
    torch.set_num_threads(1)
    batches = {str(b): step_rate("auto", True, batch=b) for b in (64, 128, 256)}
    print(f"2 cores: {cores}; batch sizes: {batches}", flush=True)
    jobs = [(name, prec) for name in ("baseline", "seed_recipe") for prec in ("fp32", "bf16")]
    with ProcessPoolExecutor(2) as pool:
        references = list(pool.map(train_reference, jobs))
    for r in references:
        print(f"{r['reference']} {r['precision']}: val {r['best_val_balanced_accuracy']:.4f}, "
              f"{r['train_s']:.0f} s")  # fmt: skip
    figures = {
        "cpu_has_bf16": cpu_has_bf16(),
        "peak_gflops_one_thread": peak,
        "flops_per_image_train": per_image,
        "steps_one_thread_batch_128": steps,
        "images_per_s_on_2_cores_auto": cores,
        "images_per_s_by_batch_size_auto": batches,
        "references_10_epochs": references,
        "one_validation_image": 1 / 270,
        "provenance": provenance(),
    }
    write_text(args.json, json.dumps(figures, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
