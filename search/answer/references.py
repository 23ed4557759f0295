"""The two configs every answer is compared with, and how a trained run is matched to one.

    refs = reference_configs(epochs=30, seed=0)       # {"baseline": {...}, "seed_recipe": {...}}
    reference_role(trained.config, refs)               # "seed_recipe"

The plain baseline (no sampler, plain cross-entropy) and the seed recipe (oversampling with
class weights, the search's first start point) are trained to the last epoch beside the search.
Runs are matched by their full TrainConfig (every knob and the seed), never by position: a
restored result grid need not keep the order its configs were given in.
"""

from __future__ import annotations

from collections.abc import Sequence

from search.answer.rules import Trial, extra_seed, ranked
from trainable.config import BASELINE, SEED_RECIPE, TrainConfig

REFERENCES = {"baseline": BASELINE, "seed_recipe": SEED_RECIPE}


def reference_configs(epochs: int, seed: int, eval_every: int = 1) -> dict[str, dict]:
    budget = {"epochs": epochs, "eval_every": eval_every, "seed": seed}
    return {
        name: TrainConfig.from_dict({**knobs, **budget}).to_dict()
        for name, knobs in REFERENCES.items()
    }


def same_config(a: dict, b: dict) -> bool:
    return TrainConfig.from_dict(a) == TrainConfig.from_dict(b)


def reference_role(config: dict, references: dict[str, dict]) -> str:
    """Which reference a trained config is, read off its knobs: a restored result grid need
    not keep the order the configs were given in. Compared as TrainConfigs, so a reference
    trained before a knob existed (its config lacks the key) is still recognised."""
    for name, knobs in references.items():
        if same_config(config, knobs):
            return name
    raise ValueError(f"config matches no reference: {config}")


def confirm_configs(
    search: Sequence[Trial], k: int, seed: int, epochs: int, runs: int
) -> dict[int, list[dict]]:
    """Rank (1 = best) -> that search config `runs` times with new seeds, for the top k."""
    ranks = {}
    for rank, trial in enumerate(ranked(search)[:k], start=1):
        base = TrainConfig.from_dict(trial.config).to_dict()
        ranks[rank] = [
            {**base, "epochs": epochs, "seed": extra_seed(seed, 1 + i)} for i in range(runs)
        ]
    return ranks


def rank_of(config: dict, ranks: dict[int, list[dict]]) -> int:
    """Which confirm rank a trained config belongs to, read off its knobs and seed."""
    for rank, configs in ranks.items():
        if any(same_config(config, c) for c in configs):
            return rank
    raise ValueError(f"config matches no confirm rank: {config}")
