"""Throughput, Tune overhead, search thrift and peak memory, side by side in one run on the
shared PneumoniaMNIST file (28 px).

    python -m benchmarks.run                          # all four; thrift alone took 67 min here
    python -m benchmarks.run --only throughput,overhead,memory   # the quick three, minutes

1. Training throughput (images/s), same small CNN, optimiser, augmentation strength and
   oversampling: our trainable (data on the device, batched per-sample augmentation,
   channels_last) against a reference written the way the usual snippets do it: a torchvision
   PIL transform pipeline and a DataLoader with a WeightedRandomSampler and 2 workers.
2. Ray Tune overhead: N configs trained one after another in this process, against the same N
   configs as a Tune run (one trial at a time, 2 CPUs each, reused actors, checkpoints written
   every epoch), Ray's start-up included.
3. Search thrift (benchmarks/thrift.py): epochs trained and best validation balanced accuracy
   of TPE + ASHA against random search without early stopping, same trial budget, each seed.
4. Peak memory (RSS) of the driver and of one trial process of a real `python -m search.run`.
Prints each figure with its ratio and target and writes them to a JSON file (--out), one entry
per section with its date; a section run alone leaves the others' entries in place.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import search.tune.quiet_ray  # noqa: F401  (before Ray is imported)

# isort: split
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision import transforms as T

from benchmarks.provenance import provenance
from search.experiment.layout import BOARD
from trainable.config import TrainConfig
from trainable.data import Data, load_data
from trainable.files import write_text
from trainable.loop import train
from trainable.models import make_model

DATA = Path(__file__).parents[1].parent / "shared/data/pneumoniamnist/pneumoniamnist.npz"
CONFIG = {"sampler": "oversample", "aug_strength": 0.5, "schedule": "none"}


class PILImages(Dataset):
    """The reference: one PIL image at a time through a torchvision transform pipeline."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x, y
        size = x.shape[-1]
        self.transform = T.Compose(
            [  # the strength-0.5 equivalents of trainable.augment
                T.RandomResizedCrop(size, scale=(0.8, 1.0), ratio=(0.86, 1.16)),
                T.RandomRotation(7.5),
                T.RandomAffine(0, translate=(0.05, 0.05)),
                T.RandomHorizontalFlip(0.25),
                T.ColorJitter(brightness=0.15, contrast=0.15),
                T.ToTensor(),
                T.Normalize([0.5], [0.25]),
            ]
        )

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.x[i, 0])), int(self.y[i])


def reference_images_per_second(data: Data, epochs: int) -> float:
    torch.manual_seed(0)
    counts = np.bincount(data.train_y)
    sampler = WeightedRandomSampler(1.0 / counts[data.train_y], len(data.train_y))
    loader = DataLoader(
        PILImages(data.train_x, data.train_y),
        batch_size=128,
        sampler=sampler,
        num_workers=2,
        drop_last=True,
    )
    model = make_model("small_cnn", 1, 2, data.train_x.shape[-1])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    seen, started = 0, time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(y)
    return seen / (time.perf_counter() - started)


def ours_images_per_second(data: Data, epochs: int) -> float:
    cfg = TrainConfig.from_dict({**CONFIG, "epochs": epochs})
    times = []
    train(cfg, data, lambda metrics, state: times.append(metrics["train_time_s"]))
    return epochs * (len(data.train_y) // cfg.batch_size) * cfg.batch_size / sum(times)


def configs(n: int, epochs: int) -> list[dict]:
    return [
        TrainConfig.from_dict({**CONFIG, "epochs": epochs, "lr": lr}).to_dict()
        for lr in np.geomspace(1e-3, 5e-3, n).tolist()
    ]


def bare_loop_seconds(data: Data, runs: list[dict]) -> tuple[float, float]:
    """(the whole loop, its epochs alone)."""
    epochs = []

    def report(metrics: dict, state) -> None:
        epochs.append(metrics["epoch_time_s"])
        state()  # build the checkpoint dict as the Tune trainable does, minus the write

    started = time.perf_counter()
    for config in runs:
        train(TrainConfig.from_dict(config), data, report)
    return time.perf_counter() - started, sum(epochs)


def tune_seconds(data: Data, runs: list[dict], storage: Path) -> tuple[float, float, float]:
    """(the whole Tune run with Ray's start-up, that start-up alone, the trials' epochs)."""
    import ray
    from ray import tune

    from search.tune.reruns import run_configs
    from trainable.ray_trainable import train_trial

    started = time.perf_counter()  # Ray's start-up is part of what a search costs
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - started
    try:
        trainable = tune.with_resources(tune.with_parameters(train_trial, data=data), {"cpu": 2})
        results = run_configs(
            trainable,
            runs,
            storage=str(storage),
            name="overhead",
            objective="val_balanced_accuracy",
            max_concurrent=1,
        )
        total = time.perf_counter() - started
        epochs = sum(r.metrics_dataframe["epoch_time_s"].sum() for r in results)
        return total, startup, float(epochs)
    finally:
        ray.shutdown()


def memory_peaks(storage: Path) -> dict:
    """Peak memory of a small real search (`python -m search.run`, report included): the
    driver's own, as it prints it, and the largest trial process's, from its leaderboard."""
    command = [
        sys.executable, "-m", "search.run", "--space=focal", f"--data={DATA}",
        "--num-samples=2", "--epochs=2", f"--storage={storage}", "--name=memory",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    driver = float(re.search(r"driver peak memory (\d+) MiB", done.stdout).group(1))
    board = pd.read_csv(storage / "memory" / BOARD)
    return {"driver_peak_mib": driver, "trial_peak_mib": float(board["peak_rss_mb"].max())}


SECTIONS = ("throughput", "overhead", "memory", "thrift")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", default=",".join(SECTIONS), help=f"some of: {','.join(SECTIONS)}")
    p.add_argument("--epochs", type=int, default=2, help="throughput: epochs timed")
    p.add_argument("--trials", type=int, default=4, help="overhead: configs trained")
    p.add_argument("--overhead-epochs", type=int, default=5, help="overhead: epochs per config")
    p.add_argument("--thrift-seeds", type=int, default=3)
    p.add_argument("--thrift-trials", type=int, default=12)
    p.add_argument("--thrift-epochs", type=int, default=10)
    p.add_argument("--thrift-grace", default="1,3", help="ASHA grace periods to compare")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results.json"))
    args = p.parse_args()
    sections = args.only.split(",")
    if unknown := set(sections) - set(SECTIONS):
        p.error(f"unknown section(s) {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    torch.set_num_threads(2)
    data = load_data(str(DATA))
    # Sections run alone keep the others' earlier figures in the file, each with its date.
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    today = time.strftime("%Y-%m-%d")
    print(f"PneumoniaMNIST 28 px, small CNN, torch threads {torch.get_num_threads()}")

    if "throughput" in sections:
        ours = ours_images_per_second(data, args.epochs)
        reference = reference_images_per_second(data, args.epochs)
        print(
            f"1. throughput ({args.epochs} epochs): ours {ours:,.0f} img/s, PIL + DataLoader "
            f"reference {reference:,.0f} img/s, ratio {ours / reference:.2f}x (target >= 1.5x)"
        )
        results["throughput"] = {
            "date": today,
            "epochs": args.epochs,
            "ours_img_s": ours,
            "reference_img_s": reference,
            "ratio": ours / reference,
        }

    if "overhead" in sections:
        runs = configs(args.trials, args.overhead_epochs)
        bare, bare_epochs = bare_loop_seconds(data, runs)
        with tempfile.TemporaryDirectory() as storage:
            tuned, startup, tune_epochs = tune_seconds(data, runs, Path(storage))
        rest = tuned - startup - tune_epochs
        print(
            f"2. Tune overhead: {args.trials} trials x {args.overhead_epochs} epochs, bare loop "
            f"{bare:.1f} s (epochs {bare_epochs:.1f} s), Tune {tuned:.1f} s = Ray start-up "
            f"{startup:.1f} s + epochs {tune_epochs:.1f} s + the rest {rest:.1f} s (worker "
            f"start and imports, reports, checkpoints), ratio {tuned / bare:.2f}x "
            "(target <= 1.15x)"
        )
        results["overhead"] = {
            "date": today,
            "trials": args.trials,
            "epochs": args.overhead_epochs,
            "bare_loop_s": bare,
            "bare_epochs_s": bare_epochs,
            "tune_s": tuned,
            "ray_startup_s": startup,
            "tune_epochs_s": tune_epochs,
            "tune_rest_s": rest,
            "ratio": tuned / bare,
        }

    if "memory" in sections:
        with tempfile.TemporaryDirectory() as storage:
            peaks = memory_peaks(Path(storage))
        print(
            f"4. peak memory (RSS) of `python -m search.run` with 2 trials: driver "
            f"{peaks['driver_peak_mib']:.0f} MiB, "
            f"one trial process {peaks['trial_peak_mib']:.0f} MiB"
        )
        results["memory"] = {"date": today, **peaks}

    if "thrift" in sections:
        import ray

        from benchmarks.thrift import compare_searches

        print(
            f"3. search thrift: {args.thrift_trials} trials of {args.thrift_epochs} epochs, "
            f"seeds 0..{args.thrift_seeds - 1}, one trial at a time"
        )
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            with tempfile.TemporaryDirectory() as storage:
                thrift = compare_searches(
                    data,
                    list(range(args.thrift_seeds)),
                    args.thrift_trials,
                    args.thrift_epochs,
                    [int(g) for g in args.thrift_grace.split(",")],
                    Path(storage),
                )
        finally:
            ray.shutdown()
        for name, row in thrift["summary"].items():
            print(
                f"3. search thrift: {name} trained {row['epochs_trained']} epochs, "
                f"{row['epochs_ratio']:.2f}x random search's (target <= 0.5x); mean best val "
                f"balanced accuracy {row['mean_best']:.4f} ({row['mean_best_difference']:+.4f}; "
                f"one validation image is {thrift['one_validation_image']:.4f})"
            )
        results["thrift"] = {"date": today, **thrift}

    for section in sections:  # each figure with the commit, versions and machine behind it
        results[section]["provenance"] = provenance()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
