"""A trial's checkpoint: its format, atomic save and safe load.

    save_checkpoint(checkpoint_state(model, optimizer, scheduler, epoch, ...), path)
    state = load_checkpoint(Path("runs/x/checkpoint.pt"))

The one boundary between a trained model and everything that reads it later: the report, the
answer's members, benchmarks and `trainable.train --evaluate-test` (predictions from a state
are trainable.inference's). The format is
`checkpoint_state`'s dict (model, optimiser and scheduler states, epoch, tuned threshold,
config, class names, training pixel statistics), saved with torch.save and read back with
`weights_only=True`, so a checkpoint never runs code on load.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainable.config import TrainConfig
from trainable.errors import UserError
from trainable.files import replacing

CHECKPOINT_FILE = "checkpoint.pt"  # the file name inside a Tune checkpoint folder


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
    try:
        with replacing(path) as tmp:
            torch.save(state, tmp)
    except (OSError, RuntimeError) as e:  # torch reports a failed write as RuntimeError
        raise UserError(
            f"cannot write checkpoint {path} ({e}); free disk space or fix "
            "permissions, then rerun with --resume"
        ) from None


def load_checkpoint(path: Path) -> dict:
    try:  # weights_only: a checkpoint never runs code on load
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise UserError(f"cannot read checkpoint {path} ({e}); delete it to start over") from None
