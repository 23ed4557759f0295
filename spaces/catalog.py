"""The search spaces. Each suggests knobs on an optuna.Trial and returns the fixed ones.

Conditionals keep the spaces honest for TPE: gamma and alpha exist only under focal loss,
sampler_power only under oversampling, weight_power only under weighted cross-entropy. The
choices, and each technique's own knobs and ranges, are the config's tables
(`trainable.config.LOSS_KNOBS`, `SAMPLER_KNOBS`), so no technique is named here except by the
spaces built around one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

from trainable.config import (
    BASELINE,
    LOSS_KNOBS,
    SAMPLER_KNOBS,
    SEED_RECIPE,
    SYNTHETIC_SAMPLERS,
    TrainConfig,
)

Space = Callable[[optuna.Trial], dict[str, Any]]


def shared(trial: optuna.Trial) -> None:
    """The training knobs every space tunes."""
    trial.suggest_float("lr", 3e-4, 1e-2, log=True)
    trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
    trial.suggest_categorical("batch_size", [64, 128, 256])


def suggest_knobs(trial: optuna.Trial, ranges: dict[str, tuple[float, float]]) -> None:
    """A technique's own knobs, each a float in its registered range."""
    for knob, (low, high) in ranges.items():
        trial.suggest_float(knob, low, high)


def loss_knobs(trial: optuna.Trial, loss: str) -> None:
    suggest_knobs(trial, LOSS_KNOBS.get(loss, {}))


# Samplers that only reorder or drop real images; SMOTE's pixel blends are offered by the
# spaces built to show what they do (`sampler`, `full`).
REAL_IMAGE_SAMPLERS = [name for name in SAMPLER_KNOBS if name not in SYNTHETIC_SAMPLERS]


def sampler_choice(trial: optuna.Trial, choices: list[str]) -> None:
    sampler = trial.suggest_categorical("sampler", choices)
    suggest_knobs(trial, SAMPLER_KNOBS.get(sampler, {}))


def baseline(trial: optuna.Trial) -> dict[str, Any]:
    """No imbalance handling: plain cross-entropy, natural sampling, no augmentation."""
    shared(trial)
    return dict(BASELINE)


def weighted(trial: optuna.Trial) -> dict[str, Any]:
    """Class-weighted cross-entropy, with or without oversampling."""
    shared(trial)
    loss_knobs(trial, "weighted_ce")
    sampler_choice(trial, REAL_IMAGE_SAMPLERS)
    return {"loss": "weighted_ce"}


def sampler(trial: optuna.Trial) -> dict[str, Any]:
    """Every sampler, plain cross-entropy."""
    shared(trial)
    sampler_choice(trial, list(SAMPLER_KNOBS))
    return {"loss": "ce"}


def focal(trial: optuna.Trial) -> dict[str, Any]:
    """Focal loss gamma and per-class alpha, with a sampler and augmentation strength."""
    shared(trial)
    loss_knobs(trial, "focal")
    sampler_choice(trial, REAL_IMAGE_SAMPLERS)
    trial.suggest_float("aug_strength", 0.0, 1.0)
    return {"loss": "focal"}


def augment(trial: optuna.Trial) -> dict[str, Any]:
    """Augmentation strength and the minority boost, with plain cross-entropy."""
    shared(trial)
    trial.suggest_float("aug_strength", 0.0, 1.0)
    trial.suggest_float("minority_aug", 0.0, 1.0)
    return {"loss": "ce", "sampler": "none"}


def full(trial: optuna.Trial) -> dict[str, Any]:
    """All of the above, conditional."""
    shared(trial)
    loss_knobs(trial, trial.suggest_categorical("loss", list(LOSS_KNOBS)))
    sampler_choice(trial, list(SAMPLER_KNOBS))
    trial.suggest_float("aug_strength", 0.0, 1.0)
    trial.suggest_float("minority_aug", 0.0, 1.0)
    return {}


SPACES: dict[str, Space] = {
    "baseline": baseline,
    "weighted": weighted,
    "sampler": sampler,
    "focal": focal,
    "augment": augment,
    "full": full,
}

# Shared knobs at the trainable's defaults, so the first trial is the known-good practice.
_DEFAULT_SHARED = {k: getattr(TrainConfig(), k) for k in ("lr", "weight_decay", "batch_size")}
# The seed recipe (oversample + weighted CE) where a space can express it; tried first.
SEED_POINTS: dict[str, dict[str, Any]] = {
    "weighted": {**_DEFAULT_SHARED, **{k: v for k, v in SEED_RECIPE.items() if k != "loss"}},
    "full": {
        **_DEFAULT_SHARED,
        **SEED_RECIPE,
        **{k: getattr(TrainConfig(), k) for k in ("aug_strength", "minority_aug")},
    },
}


def describe_spaces() -> str:
    """Each space's knobs and ranges, read off by running it on a recording trial."""
    lines = []
    for name, space in SPACES.items():
        lines.append(f"{name}: {(space.__doc__ or '').strip()}")
        for knob, text in _knobs_of(space).items():
            lines.append(f"    {knob:<15} {text}")
    return "\n".join(lines)


def _knobs_of(space: Space) -> dict[str, str]:
    """Sample the space many times with a random sampler and collect each knob's range."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    knobs: dict[str, str] = {}
    for _ in range(60):
        trial = study.ask()
        fixed = space(trial)
        for knob, dist in trial.distributions.items():
            knobs[knob] = _range(dist)
        for knob, value in fixed.items():
            knobs.setdefault(knob, f"fixed {value}")
        study.tell(trial, 0.0)
    return knobs


def _range(dist: optuna.distributions.BaseDistribution) -> str:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return "one of " + ", ".join(str(c) for c in dist.choices)
    scale = " (log)" if getattr(dist, "log", False) else ""
    return f"{dist.low:g} .. {dist.high:g}{scale}"
