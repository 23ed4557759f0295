"""The search spaces. Each suggests knobs on an optuna.Trial and returns the fixed ones.

Conditionals keep the spaces honest for TPE: gamma and alpha exist only under focal loss,
sampler_power only under oversampling, weight_power only under weighted cross-entropy. The
choices and each technique's own knobs are the config's tables (`trainable.config.LOSS_KNOBS`,
`SAMPLER_KNOBS`), and every knob's range is declared on its TrainConfig field (`knob(...,
search=...)`), so no technique is named here except by the spaces built around one, and no
range is written here at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna

from trainable.config import (
    BASELINE,
    KNOB_FIELDS,
    LOSS_KNOBS,
    SAMPLER_KNOBS,
    SEED_RECIPE,
    SYNTHETIC_SAMPLERS,
    TrainConfig,
    search_range,
)

Space = Callable[[optuna.Trial], dict[str, Any]]


def suggest(trial: optuna.Trial, *knobs: str) -> None:
    """Each knob in the search range its TrainConfig field declares: a list is a choice, a
    (low, high) pair a float range, on a log scale where the field says so."""
    for knob in knobs:
        where = search_range(knob)
        if isinstance(where, list):
            trial.suggest_categorical(knob, where)
        else:
            trial.suggest_float(knob, *where, log=KNOB_FIELDS[knob].metadata["log"])


def shared(trial: optuna.Trial) -> None:
    """The training knobs every space tunes."""
    suggest(trial, "lr", "weight_decay", "batch_size")


def loss_knobs(trial: optuna.Trial, loss: str) -> None:
    suggest(trial, *LOSS_KNOBS.get(loss, ()))


# Samplers that only reorder or drop real images; SMOTE's pixel blends are offered by the
# spaces built to show what they do (`sampler`, `full`).
REAL_IMAGE_SAMPLERS = [name for name in SAMPLER_KNOBS if name not in SYNTHETIC_SAMPLERS]


def sampler_choice(trial: optuna.Trial, choices: list[str]) -> None:
    sampler = trial.suggest_categorical("sampler", choices)
    suggest(trial, *SAMPLER_KNOBS.get(sampler, ()))


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
    suggest(trial, "aug_strength")
    return {"loss": "focal"}


def augment(trial: optuna.Trial) -> dict[str, Any]:
    """Augmentation strength and the minority boost, with plain cross-entropy."""
    shared(trial)
    suggest(trial, "aug_strength", "minority_aug")
    return {"loss": "ce", "sampler": "none"}


def full(trial: optuna.Trial) -> dict[str, Any]:
    """All of the above, conditional."""
    shared(trial)
    loss_knobs(trial, trial.suggest_categorical("loss", list(LOSS_KNOBS)))
    sampler_choice(trial, list(SAMPLER_KNOBS))
    suggest(trial, "aug_strength", "minority_aug")
    return {}


SPACES: dict[str, Space] = {
    "baseline": baseline,
    "weighted": weighted,
    "sampler": sampler,
    "focal": focal,
    "augment": augment,
    "full": full,
}

# Shared knobs at the trainable's defaults, so the first trials are the known-good practice.
_DEFAULT_SHARED = {k: getattr(TrainConfig(), k) for k in ("lr", "weight_decay", "batch_size")}


def start_points(space: str, class_counts: Sequence[int]) -> list[dict[str, Any]]:
    """The two references (plain baseline, seed recipe) written in `space`'s own knobs, where
    the space can express them: the search's first trials, before TPE's random start.

    Starting from what a user would otherwise do: without it 10 of a default search's 12
    trials were random draws, and its answer could lose to both references on validation.
    Focal loss with gamma 0 is
    alpha-weighted cross-entropy, so the focal space holds both: alpha 0.5 is plain
    cross-entropy, and the seed recipe's class weights (N / n_c) ** 0.5 are an alpha fixed by
    the training set's class counts (exact for two classes while it is inside the focal
    space's alpha range)."""
    return [{**_DEFAULT_SHARED, **knobs} for _, knobs, _ in _start_points(space, class_counts)]


def named_start_points(space: str, class_counts: Sequence[int]) -> dict[str, dict[str, Any]]:
    """`start_points` by the reference each writes (exactly or as near as the space can)."""
    return {
        name: {**_DEFAULT_SHARED, **knobs} for name, knobs, _ in _start_points(space, class_counts)
    }


def is_point(config: dict[str, Any], point: dict[str, Any]) -> bool:
    """Whether a trial's config is `point` (every knob the point sets has its value)."""
    return all(config.get(k) == v for k, v in point.items())


def reference_start_points(space: str, class_counts: Sequence[int]) -> dict[str, dict[str, Any]]:
    """The start points that are a reference exactly (the same loss, sampler, augmentation and
    training knobs), by the reference's name: the search trains them for the full budget and
    the job does not train that reference again."""
    return {
        name: {**_DEFAULT_SHARED, **knobs}
        for name, knobs, exact in _start_points(space, class_counts)
        if exact
    }


def _start_points(space: str, class_counts: Sequence[int]) -> list[tuple[str, dict, bool]]:
    """(reference name, the knobs that write it in `space`, whether they are exactly it)."""
    default_aug = {k: getattr(TrainConfig(), k) for k in ("aug_strength", "minority_aug")}
    no_aug = {"aug_strength": 0.0, "minority_aug": 0.0}
    oversample = {"sampler": "oversample", "sampler_power": SEED_RECIPE["sampler_power"]}
    focal_ce = {"gamma": 0.0, "alpha": 0.5}
    alpha = recipe_alpha(class_counts)
    focal_recipe = {"gamma": 0.0, "alpha": alpha}
    # one alpha weighs the largest class against all others: the recipe's weights for two
    # classes only, and only while alpha is inside the focal space's range (not clipped)
    recipe_exact = len(class_counts) == 2 and alpha == recipe_alpha(class_counts, clip=False)
    return {
        "baseline": [("baseline", {}, True)],
        "weighted": [
            ("seed_recipe", {"weight_power": SEED_RECIPE["weight_power"], **oversample}, True)
        ],
        "sampler": [],  # plain CE at the default augmentation: neither reference
        "focal": [
            ("baseline", {**focal_ce, "sampler": "none", "aug_strength": 0.0}, True),
            (
                "seed_recipe",
                {**focal_recipe, **oversample, "aug_strength": default_aug["aug_strength"]},
                recipe_exact,
            ),
        ],
        "augment": [("baseline", no_aug, True)],
        "full": [
            ("baseline", {"loss": "ce", "sampler": "none", **no_aug}, True),
            ("seed_recipe", {**SEED_RECIPE, **default_aug}, True),
        ],
    }[space]


def recipe_alpha(class_counts: Sequence[int], clip: bool = True) -> float:
    """Focal alpha (gamma 0) that weighs the smallest class against the largest as the seed
    recipe's weighted cross-entropy does, clipped to the focal space's alpha range. Not
    rounded: alpha / (1 - alpha) is then the recipe's weight ratio to the last bit or two."""
    counts = np.asarray(class_counts, dtype=np.float64)
    weights = (counts.sum() / counts) ** SEED_RECIPE["weight_power"]
    alpha = float(weights.max() / (weights.max() + weights.min()))
    low, high = search_range("alpha")
    return float(np.clip(alpha, low, high)) if clip else alpha


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
