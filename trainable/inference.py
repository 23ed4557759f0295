"""Predictions from a trained model or a checkpoint's state: the one path from uint8 images to
class probabilities, used by the training loop's validation, the report, the answer, the
exported model's checks and the benchmarks.

    probs, loss = predict(model, images, mean, std, device, labels)   # (N, K), mean CE
    probs = predict_checkpoint(state, data, "test")                    # a saved model, one split
    scores = evaluate_checkpoint(state, data, "test")                  # at its tuned threshold
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainable.config import TrainConfig
from trainable.data import Data
from trainable.errors import UserError
from trainable.metrics import evaluate
from trainable.models import make_model, pick_device

EVAL_BATCH = 1024


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
    batch_size: int = EVAL_BATCH,
) -> tuple[np.ndarray, float | None]:
    """Class probabilities (N, K) of uint8 images, and the mean cross-entropy if labels given.
    The training loop's validation and every later reader go through here."""
    model.eval()
    prepare = normaliser(mean, std, device)
    logits = []
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(images[i : i + batch_size]).to(device).float() / 255
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
