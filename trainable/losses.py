"""The `loss` knob: cross-entropy, class-weighted cross-entropy, focal loss.

    loss_fn = make_loss(cfg, class_counts, device)     # loss_fn(logits, labels) -> scalar

`LOSSES` maps each name to its builder, keyed like `trainable.config.LOSS_KNOBS` (the names
the config accepts and the search spaces offer, with the knobs each adds), so a new loss is
one builder here and, in trainable/config.py, one line there and a field per knob.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from trainable.config import LOSS_KNOBS, TrainConfig, same_names

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def class_weights(counts: np.ndarray, power: float) -> torch.Tensor:
    """(N / n_c) ** power: 0 gives all ones, 1 gives inverse-frequency weights."""
    counts = np.asarray(counts, dtype=np.float64)
    return torch.tensor((counts.sum() / counts) ** power, dtype=torch.float32)


def focal_alpha(counts: np.ndarray, alpha: float | None) -> torch.Tensor | None:
    """Per-class alpha_t: `alpha` for every class but the largest, `1 - alpha` for it."""
    if alpha is None:
        return None
    weights = np.full(len(counts), alpha, dtype=np.float32)
    weights[int(np.argmax(counts))] = 1 - alpha
    return torch.from_numpy(weights)


def focal_loss(
    logits: torch.Tensor, labels: torch.Tensor, gamma: float, alpha: torch.Tensor | None = None
) -> torch.Tensor:
    """Softmax focal loss (Lin et al. 2017), -alpha_t (1 - p_t)^gamma log p_t.

    Averaged like `F.cross_entropy(weight=alpha)`: divided by the summed alpha_t of the batch,
    so gamma = 0 is exactly alpha-weighted cross-entropy. Written here because
    torchvision.ops.sigmoid_focal_loss is the one-vs-rest sigmoid form with a single alpha, not
    softmax over K classes with per-class alpha.
    """
    log_p = F.log_softmax(logits.float(), dim=1)
    log_pt = log_p.gather(1, labels[:, None]).squeeze(1)
    # Clamped: for gamma < 1 the gradient of (1 - p_t)^gamma is infinite at p_t = 1, and
    # infinity times log p_t = 0 would turn a confident correct prediction into NaN.
    one_minus_pt = (-torch.expm1(log_pt)).clamp(min=1e-6)
    loss = -(one_minus_pt**gamma) * log_pt
    if alpha is None:
        return loss.mean()
    alpha_t = alpha.to(logits.device)[labels]
    return (alpha_t * loss).sum() / alpha_t.sum()


def cross_entropy(cfg: TrainConfig, counts: np.ndarray, device: torch.device) -> LossFn:
    return lambda logits, y: F.cross_entropy(logits.float(), y)


def weighted_cross_entropy(cfg: TrainConfig, counts: np.ndarray, device: torch.device) -> LossFn:
    weight = class_weights(counts, cfg.weight_power).to(device)
    return lambda logits, y: F.cross_entropy(logits.float(), y, weight=weight)


def focal(cfg: TrainConfig, counts: np.ndarray, device: torch.device) -> LossFn:
    alpha = focal_alpha(counts, cfg.alpha)
    alpha = alpha.to(device) if alpha is not None else None
    return lambda logits, y: focal_loss(logits, y, cfg.gamma, alpha)


LOSSES: dict[str, Callable[[TrainConfig, np.ndarray, torch.device], LossFn]] = {
    "ce": cross_entropy,
    "weighted_ce": weighted_cross_entropy,
    "focal": focal,
}
same_names("loss", LOSSES, LOSS_KNOBS)


def make_loss(cfg: TrainConfig, counts: np.ndarray, device: torch.device) -> LossFn:
    """The loss `cfg.loss` names, weighted by the training set's class `counts`."""
    if cfg.loss not in LOSSES:
        raise ValueError(f"unknown loss {cfg.loss!r}; known: {', '.join(LOSSES)}")
    return LOSSES[cfg.loss](cfg, counts, device)
