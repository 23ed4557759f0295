"""One training trial: data on the device, imbalance knobs from a config, metrics per epoch.

    model = train(cfg, data, report)    # report(metrics, checkpoint_state) after every epoch

The command line (`python -m trainable.train`), Ray Tune (`trainable.ray_trainable`), the
search's reruns, the benchmarks and the tests all run this one loop; only the reporter differs.

The whole training set lives on the device as uint8; each step gathers a batch by index (the
sampler's per-epoch order), converts to float, augments per sample and normalises, so there is
no DataLoader, no worker process and no per-image Python in the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from trainable.augment import augment, class_strengths
from trainable.checkpoint import checkpoint_state
from trainable.config import MAX_SEED, TrainConfig, UserError
from trainable.data import Data
from trainable.inference import normaliser, predict
from trainable.losses import make_loss
from trainable.metrics import SENSITIVITY_LEVELS, evaluate, operating_key, operating_points
from trainable.models import autocast_dtype, make_model, peak_memory_mb, pick_device
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
    robust_score: bool = True,
) -> nn.Module:
    """Train `cfg` on `data` for cfg.epochs, resuming from checkpoint dict `start` if given;
    each epoch reports specificity at each of `sensitivity_levels` (binary data) and, with
    `robust_score`, balanced accuracy on perturbed validation images. Running out of memory
    is a UserError that names the batch and image sizes."""
    try:
        return _train(cfg, data, report, start, sensitivity_levels, robust_score)
    except (torch.OutOfMemoryError, MemoryError) as e:
        raise out_of_memory(cfg, data, e) from None
    except RuntimeError as e:  # the CPU allocator's failure is a plain RuntimeError
        if "can't allocate memory" not in str(e):
            raise
        raise out_of_memory(cfg, data, e) from None


def out_of_memory(cfg: TrainConfig, data: Data, error: BaseException) -> UserError:
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    shape = "x".join(str(n) for n in data.train_x.shape[1:])
    return UserError(
        f"out of memory training {cfg.model} at batch size {cfg.batch_size} on {shape} "
        f"(C x H x W) images, {len(data.train_y)} of them on the {pick_device(cfg.device).type} "
        f"({first[:160]}); lower batch_size or --size, or give the trial more memory"
    )


def _train(
    cfg: TrainConfig,
    data: Data,
    report: Reporter,
    start: dict | None,
    sensitivity_levels: tuple[float, ...],
    robust_score: bool,
) -> nn.Module:
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
    # The `robust` objective's images. Scoring them is a second validation pass: on 500
    # training images as long as the 3 optimiser steps of an epoch, so searches that do not
    # optimise it leave it out.
    perturbed_val = perturb_validation(data.val_x) if robust_score else None

    model = make_model(cfg.model, train_x.shape[1], k, train_x.shape[-1], cfg.weights)
    # channels_last: oneDNN on the CPU and cuDNN on the GPU both run convolutions faster in
    # it (small CNN on 2 CPU cores: 727-843 vs 564-655 img/s per step, benchmarks/step.py).
    model = model.to(device, memory_format=torch.channels_last)
    # compile: opt-in; on the CPU it never beat channels_last eager (716-779 img/s, after
    # seconds of compiling). `model` stays the eager module, so checkpoints keep plain keys.
    forward = torch.compile(model) if cfg.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # drop the ragged last batch
    steps_per_epoch = max(1, epoch_length(cfg, y_np) // cfg.batch_size)
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch * cfg.epochs)
    loss_fn = make_loss(cfg, np.bincount(y_np, minlength=k), device)
    low_precision = autocast_dtype(device, cfg.precision)

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

    started, train_time, epochs_since_report = time.perf_counter(), 0.0, 0
    total_loss = torch.zeros((), device=device)
    for epoch in range(first_epoch, cfg.epochs):
        epoch_started = time.perf_counter()
        # Every epoch's randomness derives from (seed, epoch) alone, so a resumed run
        # repeats exactly what the uninterrupted run would have done.
        # Folded into numpy's seed range: a large seed would otherwise give seeds that
        # imbalanced-learn refuses (seed 50000 gave 5,000,150,000 and crashed undersampling).
        epoch_seed = (cfg.seed * 100_003 + epoch) % (MAX_SEED + 1)
        torch.manual_seed(epoch_seed)
        generator = torch.Generator(device).manual_seed(epoch_seed)
        order = torch.from_numpy(epoch_indices(cfg, y_np, seed=epoch_seed)).to(device)
        batch = len(order) if len(order) < cfg.batch_size else cfg.batch_size
        model.train()
        for step in range(steps_per_epoch):
            idx = order[step * batch : (step + 1) * batch]
            y = train_y[idx]
            x = prepare(augment(train_x[idx].float() / 255, strength_of_class[y], generator))
            if cfg.mixup > 0:  # mixup (Zhang et al. 2018): each image blended with another
                share = float(torch.distributions.Beta(cfg.mixup, cfg.mixup).sample())
                partner = torch.randperm(len(y), device=device, generator=generator)
                x = share * x + (1 - share) * x[partner]
            with torch.autocast(
                device.type, dtype=low_precision, enabled=low_precision is not None
            ):
                logits = forward(x)
            loss = loss_fn(logits, y)
            if cfg.mixup > 0:  # the blend's loss: each label weighted by its image's share
                loss = share * loss + (1 - share) * loss_fn(logits, y[partner])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.detach()

        train_time += time.perf_counter() - epoch_started
        epochs_since_report += 1
        if (epoch + 1) % cfg.eval_every and epoch + 1 < cfg.epochs:
            continue  # validation (a report, a checkpoint) every eval_every epochs
        metrics = score_epoch(model, data, perturbed_val, mean, std, device, sensitivity_levels)
        metrics |= {
            "epoch": epoch + 1,
            "train_loss": float(total_loss) / (steps_per_epoch * epochs_since_report),
            "train_time_s": train_time,  # the optimisation steps alone, since the last report
            "epoch_time_s": time.perf_counter() - started,  # with validation
        } | peak_memory_mb(device)
        started, train_time, epochs_since_report = time.perf_counter(), 0.0, 0
        total_loss = torch.zeros((), device=device)

        def state(epoch: int = epoch + 1, threshold: float | None = metrics.get("val_threshold")):
            return checkpoint_state(
                model, optimizer, scheduler, epoch, threshold, cfg, data.classes, mean, std
            )

        report(metrics, state)
    return model


def score_epoch(
    model: nn.Module,
    data: Data,
    perturbed_val: np.ndarray | None,
    mean: list[float],
    std: list[float],
    device: torch.device,
    sensitivity_levels: tuple[float, ...] = SENSITIVITY_LEVELS,
) -> dict:
    """The validation metrics an epoch reports: every metric at the tuned threshold (and 0.5),
    the loss, balanced accuracy on the perturbed copies (if given) at that same threshold, and
    (binary) specificity where sensitivity first reaches each level."""
    probs, val_loss = predict(model, data.val_x, mean, std, device, data.val_y)
    metrics = {f"val_{name}": value for name, value in evaluate(probs, data.val_y).items()}
    if perturbed_val is not None:
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
