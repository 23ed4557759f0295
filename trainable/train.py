"""One training trial: data on the device, imbalance knobs from a config, metrics per epoch.

Alone (prints a line per epoch, writes runs/x/metrics.json and runs/x/checkpoint.pt):

    python -m trainable.train --data ../shared/data/pneumoniamnist/pneumoniamnist.npz \
        --config '{"loss": "focal", "gamma": 2.0, "aug_strength": 0.5}' --epochs 10 --out runs/x

Add --evaluate-test to score the test split once, at the validation-tuned threshold and at 0.5,
into runs/x/test_metrics.json. Under Ray Tune the same `train` runs inside
`trainable.ray_trainable.train_trial`, reporting through a callback instead of printing.

The whole training set lives on the device as uint8; each step gathers a batch by index (the
sampler's per-epoch order), converts to float, augments per sample and normalises, so there is
no DataLoader, no worker process and no per-image Python in the loop.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainable.augment import augment, class_strengths
from trainable.checkpoint import (
    checkpoint_state,
    evaluate_checkpoint,
    load_checkpoint,
    normaliser,
    predict,
    save_checkpoint,
    write_json,
)
from trainable.cli import HelpWithDefaults, add_data_flags, data_options
from trainable.config import MAX_SEED, TrainConfig, UserError
from trainable.data import Data, load_data
from trainable.losses import make_loss
from trainable.metrics import SENSITIVITY_LEVELS, evaluate, operating_key, operating_points
from trainable.models import make_model, peak_memory_mb, pick_device
from trainable.robustness import perturb_validation
from trainable.sampling import epoch_indices, epoch_length, resample_pixels

# report(metrics, checkpoint_state): called after every epoch; checkpoint_state() builds the
# checkpoint dict only when the caller wants to save it.
Reporter = Callable[[dict, Callable[[], dict]], None]


def train(
    cfg: TrainConfig,
    data: Data,
    report: Reporter,
    start: dict | None = None,
    sensitivity_levels: tuple[float, ...] = SENSITIVITY_LEVELS,
) -> nn.Module:
    """Train `cfg` on `data` for cfg.epochs, resuming from checkpoint dict `start` if given;
    each epoch reports specificity at each of `sensitivity_levels` (binary data)."""
    device = pick_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    k = data.num_classes
    torch.manual_seed(cfg.seed)
    x_np, y_np = resample_pixels(cfg.sampler, data.train_x, data.train_y, cfg.seed)
    # torch.tensor copies: arrays from Ray's object store are read-only.
    train_x = torch.tensor(x_np, device=device)
    train_y = torch.tensor(y_np, device=device)
    mean, std = pixel_stats(data.train_x)
    prepare = normaliser(mean, std, device)
    strengths = class_strengths(data.train_y, k, cfg.aug_strength, cfg.minority_aug)
    strength_of_class = torch.from_numpy(strengths).to(device)
    perturbed_val = perturb_validation(data.val_x)  # the `robust` objective's images

    model = make_model(cfg.model, train_x.shape[1], k, train_x.shape[-1], cfg.weights)
    # channels_last: oneDNN on the CPU and cuDNN on the GPU both run convolutions faster in
    # it (small CNN on 2 CPU cores: 727-843 vs 564-655 img/s per step, benchmarks/step.py).
    model = model.to(device, memory_format=torch.channels_last)
    # compile: opt-in; on the CPU it never beat channels_last eager (716-779 img/s, after
    # seconds of compiling). `model` stays the eager module, so checkpoints keep plain keys.
    forward = torch.compile(model) if cfg.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # drop the ragged last batch
    steps_per_epoch = max(1, epoch_length(cfg.sampler, y_np, cfg.sampler_power) // cfg.batch_size)
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch * cfg.epochs)
    loss_fn = make_loss(cfg, np.bincount(y_np, minlength=k), device)

    first_epoch = 0
    if start is not None:
        try:
            model.load_state_dict(start["model"])
        except RuntimeError as e:  # another model, or another channel count
            first = str(e).strip().splitlines()[0]
            raise UserError(
                f"the checkpoint does not fit this model and data ({first}); resume with the "
                "data and config it was trained with, or start a new --out"
            ) from None
        optimizer.load_state_dict(start["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(start["scheduler"])
        first_epoch = start["epoch"]

    for epoch in range(first_epoch, cfg.epochs):
        started = time.perf_counter()
        # Every epoch's randomness derives from (seed, epoch) alone, so a resumed run
        # repeats exactly what the uninterrupted run would have done.
        # Folded into numpy's seed range: a large seed would otherwise give seeds that
        # imbalanced-learn refuses (seed 50000 gave 5,000,150,000 and crashed undersampling).
        epoch_seed = (cfg.seed * 100_003 + epoch) % (MAX_SEED + 1)
        torch.manual_seed(epoch_seed)
        generator = torch.Generator(device).manual_seed(epoch_seed)
        order = torch.from_numpy(
            epoch_indices(cfg.sampler, y_np, power=cfg.sampler_power, seed=epoch_seed)
        ).to(device)
        batch = len(order) if len(order) < cfg.batch_size else cfg.batch_size
        model.train()
        total_loss = torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            idx = order[step * batch : (step + 1) * batch]
            y = train_y[idx]
            x = prepare(augment(train_x[idx].float() / 255, strength_of_class[y], generator))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = forward(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.detach()

        train_time = time.perf_counter() - started
        metrics = score_epoch(model, data, perturbed_val, mean, std, device, sensitivity_levels)
        metrics |= {
            "epoch": epoch + 1,
            "train_loss": float(total_loss) / steps_per_epoch,
            "train_time_s": train_time,  # the optimisation steps alone
            "epoch_time_s": time.perf_counter() - started,  # with validation
        } | peak_memory_mb(device)

        def state(epoch: int = epoch + 1, threshold: float | None = metrics.get("val_threshold")):
            return checkpoint_state(
                model, optimizer, scheduler, epoch, threshold, cfg, data.classes, mean, std
            )

        report(metrics, state)
    return model


def score_epoch(
    model: nn.Module,
    data: Data,
    perturbed_val: np.ndarray,
    mean: list[float],
    std: list[float],
    device: torch.device,
    sensitivity_levels: tuple[float, ...] = SENSITIVITY_LEVELS,
) -> dict:
    """The validation metrics an epoch reports: every metric at the tuned threshold (and 0.5),
    the loss, balanced accuracy on the perturbed copies at that same threshold, and (binary)
    specificity where sensitivity first reaches each level."""
    probs, val_loss = predict(model, data.val_x, mean, std, device, data.val_y)
    metrics = {f"val_{name}": value for name, value in evaluate(probs, data.val_y).items()}
    perturbed_probs, _ = predict(model, perturbed_val, mean, std, device)
    robust = evaluate(perturbed_probs, data.val_y, metrics.get("val_threshold"))
    metrics["val_robust_balanced_accuracy"] = robust["balanced_accuracy"]
    metrics["val_loss"] = val_loss
    if data.num_classes == 2:
        points = operating_points(probs[:, 1], data.val_y, sensitivity_levels)
        for level in sensitivity_levels:
            metrics[f"val_{operating_key(level)}"] = points[f"{level:g}"]["specificity"]
    return metrics


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.lr, total_steps=total_steps)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return None


def pixel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the training images, in [0, 1] units."""
    flat = x.transpose(1, 0, 2, 3).reshape(x.shape[1], -1).astype(np.float64) / 255
    return flat.mean(1).tolist(), np.maximum(flat.std(1), 1e-3).tolist()


def resumed_config(start: dict, config_json: str | None, overrides: dict) -> TrainConfig:
    """The checkpoint's config; a --config, --epochs or --seed that contradicts it is refused
    (OneCycle's schedule is fixed by the epochs it started with, so it cannot be extended)."""
    recorded = TrainConfig.from_dict(start["config"])
    if config_json is None:
        wanted = TrainConfig.from_dict({**recorded.to_dict(), **overrides})
    else:
        wanted = TrainConfig.from_json(config_json, overrides)
    changed = {
        k: (v, getattr(wanted, k))
        for k, v in recorded.to_dict().items()
        if v != getattr(wanted, k) and k != "device"
    }
    if changed:
        said = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise UserError(
            f"--resume with another config ({said}); resume with the flags it was trained "
            "with (or none), or start a new --out"
        )
    return wanted


def earlier_history(metrics_path: Path, epochs_done: int) -> list[dict]:
    if not metrics_path.exists():
        return []
    try:
        history = json.loads(metrics_path.read_text()).get("history", [])
    except (OSError, json.JSONDecodeError, AttributeError):
        return []  # unreadable: the new epochs are still recorded
    return [m for m in history if m.get("epoch", 0) <= epochs_done]


def format_epoch(m: dict, epochs: int) -> str:
    parts = [
        f"epoch {m['epoch']:>3}/{epochs}",
        f"train_loss {m['train_loss']:.4f}",
        f"val_loss {m['val_loss']:.4f}",
        f"bal_acc {m['val_balanced_accuracy']:.4f}",
        f"robust {m['val_robust_balanced_accuracy']:.4f}",
    ]
    if "val_threshold" in m:
        parts += [
            f"(@0.5 {m['val_balanced_accuracy_05']:.4f}, thr {m['val_threshold']:.3f})",
            f"sens {m['val_sensitivity']:.3f} spec {m['val_specificity']:.3f}",
        ]
    parts += [f"auc {m['val_roc_auc']:.4f}", f"{m['epoch_time_s']:.1f}s"]
    return "  ".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun with --resume to continue from the last epoch", file=sys.stderr)
        return 130
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m trainable.train",
        description=__doc__.split("\n")[0],
        formatter_class=HelpWithDefaults,
    )
    add_data_flags(p)
    p.add_argument(
        "--config", help="JSON object of knobs (see README); with --resume, the checkpoint's"
    )
    p.add_argument("--epochs", type=int, help="overrides the config's epochs")
    p.add_argument("--seed", type=int, help="overrides the config's seed")
    p.add_argument("--out", type=Path, required=True, help="folder for metrics and checkpoint")
    p.add_argument(
        "--evaluate-test",
        action="store_true",
        help="after training, score the test split once into test_metrics.json",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file; give a folder (new or existing) for the run")
    checkpoint_path = args.out / "checkpoint.pt"
    start = load_checkpoint(checkpoint_path) if args.resume and checkpoint_path.exists() else None
    if args.resume and start is None:
        raise UserError(f"--resume: no checkpoint at {checkpoint_path}; run without --resume")
    if start is None:
        cfg = TrainConfig.from_json(args.config or "{}", overrides)
    else:
        cfg = resumed_config(start, args.config, overrides)
        if start["epoch"] >= cfg.epochs:
            print(f"already finished: {args.out} holds all {cfg.epochs} epochs; nothing to do")
            return
    device = pick_device(cfg.device)
    data = load_data(args.data, **data_options(args))
    print(data.describe())
    print(f"device {device}, config {json.dumps(cfg.to_dict())}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)

    # The epochs before a resume, from the metrics.json written after each of them.
    history = earlier_history(args.out / "metrics.json", start["epoch"]) if start else []

    def summary() -> dict:
        final = history[-1] if history else {}
        return {
            "data": args.data,
            "classes": data.classes,
            "config": cfg.to_dict(),
            "epochs_run": final.get("epoch", 0),
            "threshold": final.get("val_threshold"),
            "val": {k.removeprefix("val_"): v for k, v in final.items() if k.startswith("val_")},
            "history": history,
        }

    def report(metrics: dict, state: Callable[[], dict]) -> None:
        history.append(metrics)
        print(format_epoch(metrics, cfg.epochs), flush=True)
        save_checkpoint(state(), checkpoint_path)
        write_json(args.out / "metrics.json", summary())  # an interrupted run keeps its epochs

    train(cfg, data, report, start)
    threshold = summary()["threshold"]
    print(f"wrote {args.out / 'metrics.json'}")
    if args.evaluate_test:
        test = evaluate_checkpoint(load_checkpoint(checkpoint_path), data, "test")
        write_json(args.out / "test_metrics.json", {"threshold": threshold, "test": test})
        print("test  " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
        print(f"wrote {args.out / 'test_metrics.json'}")


if __name__ == "__main__":
    sys.exit(main())
