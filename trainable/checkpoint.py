"""A trial's checkpoint: its format, atomic save, safe load, and predictions from it.

    state = load_checkpoint(Path("runs/x/checkpoint.pt"))
    probs = predict_checkpoint(state, data, "test")          # (N, K) class probabilities
    scores = evaluate_checkpoint(state, data, "test")        # at its validation-tuned threshold

The one boundary between a trained model and everything that reads it later: the report, the
answer's members, benchmarks and `trainable.train --evaluate-test`. The format is
`checkpoint_state`'s dict (model, optimiser and scheduler states, epoch, tuned threshold,
config, class names, training pixel statistics), saved with torch.save and read back with
`weights_only=True`, so a checkpoint never runs code on load.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainable.config import TrainConfig
from trainable.data import Data
from trainable.errors import UserError
from trainable.metrics import evaluate
from trainable.models import make_model, pick_device

CHECKPOINT_FILE = "checkpoint.pt"  # the file name inside a Tune checkpoint folder
EVAL_BATCH = 1024


def checkpoint_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epoch: int,
    threshold: float | None,
    cfg: TrainConfig,
    classes: list[str],
    pixel_mean: list[float],
    pixel_std: list[float],
) -> dict:
    """Everything needed to resume training at `epoch` or to predict with the model."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "threshold": threshold,
        "config": cfg.to_dict(),
        "classes": list(classes),
        "pixel_mean": pixel_mean,
        "pixel_std": pixel_std,
    }


def save_checkpoint(state: dict, path: Path) -> None:
    """Write atomically: a crash or a full disk mid-write leaves the previous checkpoint intact."""
    tmp = path.with_suffix(".tmp")
    try:
        torch.save(state, tmp)
        tmp.replace(path)
    except (OSError, RuntimeError) as e:  # torch reports a failed write as RuntimeError
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"cannot write checkpoint {path} ({e}); free disk space or fix "
            "permissions, then rerun with --resume"
        ) from None


def load_checkpoint(path: Path) -> dict:
    try:  # weights_only: a checkpoint never runs code on load
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise UserError(f"cannot read checkpoint {path} ({e}); delete it to start over") from None


def normaliser(mean: list[float], std: list[float], device: torch.device):
    """A function normalising a float [0, 1] batch, its statistics on the device once;
    it also makes the batch channels_last, as the model is."""
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device).view(1, -1, 1, 1)

    def prepare(x: torch.Tensor) -> torch.Tensor:
        x = (x - m) / s
        return x.contiguous(memory_format=torch.channels_last)

    return prepare


@torch.no_grad()
def predict(
    model: nn.Module,
    images: np.ndarray,
    mean: list[float],
    std: list[float],
    device: torch.device,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, float | None]:
    """Class probabilities (N, K) of uint8 images, and the mean cross-entropy if labels given.
    The training loop's validation and every later reader go through here."""
    model.eval()
    prepare = normaliser(mean, std, device)
    logits = []
    for i in range(0, len(images), EVAL_BATCH):
        x = torch.from_numpy(images[i : i + EVAL_BATCH]).to(device).float() / 255
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits.append(model(prepare(x)).float())
    logits = torch.cat(logits)
    loss = None
    if labels is not None:
        loss = float(F.cross_entropy(logits, torch.from_numpy(labels).to(device)))
    probs = torch.softmax(logits, dim=1).cpu().numpy()
    # A diverged model (lr too high) predicts NaN: score it as the coin flip it is, so the
    # search records a poor trial instead of crashing and retrying it.
    return np.nan_to_num(probs, nan=1 / probs.shape[1]), loss


def model_from_state(
    state: dict, channels: int, num_classes: int, size: int, device: torch.device
) -> nn.Module:
    """A checkpoint's model with its weights, on `device` in training's memory layout."""
    cfg = TrainConfig.from_dict(state["config"])
    model = make_model(cfg.model, channels, num_classes, size)
    model = model.to(device, memory_format=torch.channels_last)  # as in training
    model.load_state_dict(state["model"])
    return model


def predict_checkpoint(state: dict, data: Data, split: str = "test") -> np.ndarray:
    """Class probabilities of a checkpoint's model on one split."""
    device = pick_device("auto")
    x, y = data.split(split)
    if len(y) == 0:
        raise UserError(f"the data has no {split} split to evaluate")
    model = model_from_state(state, x.shape[1], data.num_classes, x.shape[-1], device)
    return predict(model, x, state["pixel_mean"], state["pixel_std"], device)[0]


def evaluate_checkpoint(state: dict, data: Data, split: str = "test") -> dict:
    """Score a checkpoint on one split at its validation-tuned threshold (and at 0.5)."""
    probs = predict_checkpoint(state, data, split)
    return evaluate(probs, data.split(split)[1], threshold=state["threshold"])


def write_json(path: Path, obj: dict) -> None:
    """Atomic, like save_checkpoint: a run's metrics.json is whole or absent."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")  # str: numpy scalars
    tmp.replace(path)
