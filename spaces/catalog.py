"""The search spaces. Each suggests knobs on an optuna.Trial and returns the fixed ones.

Conditionals keep the spaces honest for TPE: gamma and alpha exist only under focal loss,
sampler_power only under oversampling, weight_power only under weighted cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

from trainable.config import SEED_RECIPE

Space = Callable[[optuna.Trial], dict[str, Any]]


def shared(trial: optuna.Trial) -> None:
    """The training knobs every space tunes."""
    trial.suggest_float("lr", 3e-4, 1e-2, log=True)
    trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
    trial.suggest_categorical("batch_size", [64, 128, 256])


def sampler_choice(trial: optuna.Trial, choices: list[str]) -> None:
    sampler = trial.suggest_categorical("sampler", choices)
    if sampler == "oversample":
        trial.suggest_float("sampler_power", 0.0, 1.0)


def focal_knobs(trial: optuna.Trial) -> None:
    trial.suggest_float("gamma", 0.0, 5.0)
    trial.suggest_float("alpha", 0.25, 0.9)


def baseline(trial: optuna.Trial) -> dict[str, Any]:
    """No imbalance handling: plain cross-entropy, natural sampling, no augmentation."""
    shared(trial)
    return {"sampler": "none", "loss": "ce", "aug_strength": 0.0}


def weighted(trial: optuna.Trial) -> dict[str, Any]:
    """Class-weighted cross-entropy, with or without oversampling."""
    shared(trial)
    trial.suggest_float("weight_power", 0.0, 1.5)
    sampler_choice(trial, ["none", "oversample", "undersample"])
    return {"loss": "weighted_ce"}


def sampler(trial: optuna.Trial) -> dict[str, Any]:
    """Every sampler, plain cross-entropy."""
    shared(trial)
    sampler_choice(trial, ["none", "oversample", "undersample", "smote", "smote_tomek"])
    return {"loss": "ce"}


def focal(trial: optuna.Trial) -> dict[str, Any]:
    """Focal loss gamma and per-class alpha, with a sampler and augmentation strength."""
    shared(trial)
    focal_knobs(trial)
    sampler_choice(trial, ["none", "oversample", "undersample"])
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
    loss = trial.suggest_categorical("loss", ["ce", "weighted_ce", "focal"])
    if loss == "weighted_ce":
        trial.suggest_float("weight_power", 0.0, 1.5)
    elif loss == "focal":
        focal_knobs(trial)
    sampler_choice(trial, ["none", "oversample", "undersample", "smote", "smote_tomek"])
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
_DEFAULT_SHARED = {"lr": 3e-3, "weight_decay": 1e-4, "batch_size": 128}
# The seed recipe (oversample + weighted CE) where a space can express it; tried first.
SEED_POINTS: dict[str, dict[str, Any]] = {
    "weighted": {**_DEFAULT_SHARED, **{k: v for k, v in SEED_RECIPE.items() if k != "loss"}},
    "full": {**_DEFAULT_SHARED, **SEED_RECIPE, "aug_strength": 0.25, "minority_aug": 0.0},
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
