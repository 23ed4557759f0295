"""Which training images an epoch sees: the `sampler` knob.

    order = epoch_indices(TrainConfig(sampler="oversample"), labels, seed=7)  # indices into train
    x, y = resample_pixels("smote", x, y, seed=0)                    # once, before training

`SAMPLERS` maps each name to the function that orders an epoch, each called as
`(labels, cfg, seed)`, so a sampler reads its own knobs off the config (as the losses do);
`BEFORE_TRAINING` the ones that first rebuild the training set. Both are keyed like
`trainable.config.SAMPLER_KNOBS` and `SYNTHETIC_SAMPLERS`, the names the config accepts.

- none:        every image once, shuffled.
- oversample:  torch's WeightedRandomSampler with weight n_c ** -power per image: power 0 keeps
               the natural class mix, power 1 draws every class equally often. Epoch length N.
- undersample: imbalanced-learn's RandomUnderSampler, re-drawn each epoch, so the majority
               class is cut to the minority's size but every majority image is seen over time.
- smote / smote_tomek: imbalanced-learn on flattened pixels, once before training. SMOTE makes
               new minority images by blending a minority image with one of its k nearest
               neighbours in pixel space. For images that is weak: neighbours in raw pixels are
               chosen by brightness and position rather than anatomy, and a blend of two chest
               X-rays is a double exposure, not a plausible new patient. It is in the search so
               the search can show that, not because it is expected to win.
"""

from __future__ import annotations

import numpy as np
import torch
from imblearn.combine import SMOTETomek
from imblearn.over_sampling import SMOTE
from imblearn.under_sampling import RandomUnderSampler
from torch.utils.data import WeightedRandomSampler

from trainable.config import SAMPLER_KNOBS, SYNTHETIC_SAMPLERS, TrainConfig, same_names
from trainable.errors import UserError


def shuffled(labels: np.ndarray, cfg: TrainConfig, seed: int) -> np.ndarray:
    """Every image once, in a new order."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(len(labels), generator=generator).numpy()


def oversampled(labels: np.ndarray, cfg: TrainConfig, seed: int) -> np.ndarray:
    """N draws with replacement, image weight n_c ** -sampler_power (torch's
    WeightedRandomSampler)."""
    n = len(labels)
    counts = np.bincount(labels)
    weights = counts[labels].astype(np.float64) ** -cfg.sampler_power
    generator = torch.Generator().manual_seed(seed)
    draws = WeightedRandomSampler(weights, num_samples=n, replacement=True, generator=generator)
    return np.fromiter(draws, dtype=np.int64, count=n)


def undersampled(labels: np.ndarray, cfg: TrainConfig, seed: int) -> np.ndarray:
    """Every class cut to the smallest's size (imbalanced-learn), shuffled."""
    rus = RandomUnderSampler(random_state=seed)
    rus.fit_resample(np.zeros((len(labels), 1)), labels)
    kept = rus.sample_indices_
    generator = torch.Generator().manual_seed(seed)
    return kept[torch.randperm(len(kept), generator=generator).numpy()]


SAMPLERS = {
    "none": shuffled,
    "oversample": oversampled,
    "undersample": undersampled,
    "smote": shuffled,  # over the set resample_pixels balanced once
    "smote_tomek": shuffled,
}
BEFORE_TRAINING = {
    "smote": lambda smote, seed: smote,
    "smote_tomek": lambda smote, seed: SMOTETomek(smote=smote, random_state=seed),
}
same_names("sampler", SAMPLERS, SAMPLER_KNOBS)
same_names("synthetic sampler", BEFORE_TRAINING, SYNTHETIC_SAMPLERS)


def epoch_indices(cfg: TrainConfig, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices of the training images for one epoch of `cfg.sampler`, in the order they are
    used; `seed` is the epoch's own."""
    return SAMPLERS[cfg.sampler](labels, cfg, seed)


def epoch_length(cfg: TrainConfig, labels: np.ndarray) -> int:
    """Images one epoch draws (undersampling draws fewer than there are)."""
    return len(epoch_indices(cfg, labels, seed=0))


def resample_pixels(
    sampler: str, x: np.ndarray, y: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """SMOTE / SMOTE+Tomek on flattened uint8 images; other samplers return the input."""
    if sampler not in BEFORE_TRAINING:
        return x, y
    smallest = int(np.bincount(y).min())
    if smallest < 2:  # SMOTE blends an image with a neighbour of its own class
        raise UserError(
            f"sampler {sampler!r} needs at least 2 training images of every class, and one class "
            f"has {smallest}; choose sampler 'oversample' or add images"
        )
    # k_neighbors must be below the smallest class count; 5 is imbalanced-learn's default.
    k = max(1, min(5, smallest - 1))
    method = BEFORE_TRAINING[sampler](SMOTE(k_neighbors=k, random_state=seed), seed)
    flat = x.reshape(len(x), -1).astype(np.float32)
    new_flat, new_y = method.fit_resample(flat, y)
    new_x = np.clip(np.round(new_flat), 0, 255).astype(np.uint8).reshape(-1, *x.shape[1:])
    return new_x, new_y.astype(np.int64)
