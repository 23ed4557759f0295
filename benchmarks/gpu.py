"""GPU speed: one trial by image size, model and compile; then trials packed on one GPU.

    python -m benchmarks.gpu                          # on a machine with a CUDA GPU
    python -m benchmarks.gpu --device cpu --quick     # the same code on a CPU: a smoke test

1. One trial, as `search.run` trains it (dataset on the device as uint8, per-sample batched
   augmentation there, bf16 autocast, channels_last): PneumoniaMNIST at 28 px for --epochs
   epochs, the Kermany folders resized once on load to 64 and 224 px for --epochs-large epochs;
   small CNN and ResNet-18; eager and `compile: true`. Prints the whole trial's wall time
   (compile included, validation every epoch included) and images/s of its optimisation steps,
   and whether compile paid for itself within the trial. Target: 28 px, 10 epochs, under 5 s.
2. Packing: --packed-trials trials of the 28 px small CNN, 1, 2, 4 and 8 at a time on one GPU
   through Tune's fractional `gpu` resource; trials per GPU-hour and mean GPU utilisation
   (nvidia-smi sampled every 0.2 s). Target: 4 at a time gives >= 3x the trials per hour of 1.

Writes --out (default benchmarks/gpu_results.json). The data is read by path: on a machine
without ../shared, copy the two folders into an ignored folder and pass --npz and --folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import search.tune.quiet_ray  # noqa: F401  (before Ray is imported)

# isort: split
import torch

from benchmarks.provenance import provenance
from trainable.config import TrainConfig
from trainable.data import Data, load_data
from trainable.files import write_text
from trainable.loop import train

SHARED = Path(__file__).parents[1].parent / "shared/data"
PACKING = (1, 2, 4, 8)


def one_trial(data: Data, model: str, epochs: int, compile: bool, device: str) -> dict:
    """Wall time of one whole trial and images/s of its optimisation steps."""
    cfg = TrainConfig(model=model, epochs=epochs, compile=compile, device=device)
    train_times = []
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    train(cfg, data, lambda metrics, state: train_times.append(metrics["train_time_s"]))
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    steps_per_epoch = len(data.train_y) // cfg.batch_size  # sampler "none": one pass
    images = steps_per_epoch * cfg.batch_size
    # The first epoch carries the compile (and cuDNN's algorithm search); the rest is steady.
    steady = images * (epochs - 1) / sum(train_times[1:]) if epochs > 1 else None
    return {"trial_s": wall, "first_epoch_s": train_times[0], "steady_img_s": steady}


class GpuSampler:
    """Mean GPU utilisation while a block runs, from nvidia-smi every 0.2 s (None without it)."""

    def __enter__(self):
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
        while not self.stop.wait(0.2):
            try:
                out = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout
                self.samples.append(float(out.split()[0]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                return

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def packed_trials_per_hour(
    data: Data, trials: int, epochs: int, device: str, packing: tuple[int, ...]
) -> list[dict]:
    """The same `trials` configs run k at a time, each asking for 1/k of the GPU."""
    import ray
    from ray import tune

    from search.tune.reruns import run_configs
    from trainable.ray_trainable import train_trial

    configs = [TrainConfig(epochs=epochs, seed=s, device=device).to_dict() for s in range(trials)]
    rows = []
    ray.init(include_dashboard=False, log_to_driver=False)
    try:
        cpus = ray.cluster_resources()["CPU"]
        for k in packing:
            share = {"cpu": cpus / k, "gpu": 1 / k if device == "cuda" else 0}
            trainable = tune.with_resources(tune.with_parameters(train_trial, data=data), share)
            with tempfile.TemporaryDirectory() as storage, GpuSampler() as gpu:
                started = time.perf_counter()
                run_configs(
                    trainable,
                    configs,
                    storage=storage,
                    name=f"packed{k}",
                    objective="val_balanced_accuracy",
                    max_concurrent=k,
                )
                wall = time.perf_counter() - started
            rows.append(
                {
                    "at_once": k,
                    "wall_s": wall,
                    "trials_per_hour": trials / wall * 3600,
                    "gpu_utilisation_pct": gpu.mean,
                }
            )
            print(
                f"2. {trials} trials {k} at a time: {wall:.1f} s, "
                f"{rows[-1]['trials_per_hour']:,.0f} trials/h, "
                f"{rows[-1]['trials_per_hour'] / rows[0]['trials_per_hour']:.2f}x one at a time, "
                f"GPU utilisation {gpu.mean if gpu.mean is not None else float('nan'):.0f}%",
                flush=True,
            )
    finally:
        ray.shutdown()
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--npz", type=Path, default=SHARED / "pneumoniamnist/pneumoniamnist.npz")
    p.add_argument("--folder", type=Path, default=SHARED / "chest_xray")
    p.add_argument("--epochs", type=int, default=10, help="28 px trials")
    p.add_argument("--epochs-large", type=int, default=3, help="64 and 224 px trials")
    p.add_argument("--packed-trials", type=int, default=8, help="trials per packing level")
    p.add_argument(
        "--quick", action="store_true", help="2 epochs, 28 px small CNN only, packing 1 and 2"
    )
    p.add_argument("--out", type=Path, default=Path("benchmarks/gpu_results.json"))
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA GPU here; run on a GPU machine or pass --device cpu")
    if args.quick:
        args.epochs, args.packed_trials = 2, 2
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"{name}, torch {torch.__version__}")

    datasets = {28: (load_data(str(args.npz)), args.epochs)}
    if not args.quick:
        for size in (64, 224):
            datasets[size] = (load_data(str(args.folder), size=size), args.epochs_large)
    one_trial(datasets[28][0], "small_cnn", 1, False, args.device)  # CUDA start-up, not counted

    trials = []
    for size, (data, epochs) in datasets.items():
        for model in ("small_cnn",) if args.quick else ("small_cnn", "resnet18"):
            row = {"size": size, "model": model, "epochs": epochs}
            for compile in (False, True):
                timing = one_trial(data, model, epochs, compile, args.device)
                row |= {f"{k}_{'compiled' if compile else 'eager'}": v for k, v in timing.items()}
            row["compile_pays"] = row["trial_s_compiled"] < row["trial_s_eager"]
            trials.append(row)
            print(
                f"1. {size:3d} px {model:9s} {epochs} epochs: eager {row['trial_s_eager']:.1f} s "
                f"({row['steady_img_s_eager'] or 0:,.0f} img/s), compiled "
                f"{row['trial_s_compiled']:.1f} s ({row['steady_img_s_compiled'] or 0:,.0f} "
                f"img/s); compile {'pays' if row['compile_pays'] else 'does not pay'}",
                flush=True,
            )

    packing = PACKING[:2] if args.quick else PACKING
    packed = packed_trials_per_hour(
        datasets[28][0], args.packed_trials, args.epochs, args.device, packing
    )
    results = {"date": time.strftime("%Y-%m-%d"), "device": name, "trials": trials}
    results["provenance"] = provenance()
    results["packing"] = packed
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
