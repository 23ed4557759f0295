"""The search's answer: the mean of at most five models (of their logits), each trained for
the full budget, chosen on validation alone. Pure functions over typed records, so every
decision here is tested on hand-made trials (tests/search/answer/test_rules.py);
search/tune/records.py builds the records from Tune's result grids, search/answer/scoring.py
scores them.

    plan = plan_members(search_trials, reference_scores=[0.9846, 0.9847], image=0.0037)
    members = the_answer([*search_trials, *member_runs, *references], search_trials, 0.0037)
    probs = average([m1_probs, m2_probs, ...])          # (N, K) each -> (N, K)
    found = verdict(answer, {"baseline": scored_baseline}, test_labels, 0.0037, search_trials)

Two steps. The plan says what to train after the search: a good trial is one that validation
cannot tell from the best, its score (best epoch) within one image of the smallest validation
class of the best trial's and not below either reference's by more than that image; good
trials ASHA stopped are trained in full, and when fewer than three qualify, new seeds of them,
in turn, make up three (a deep ensemble, Lakshminarayanan et al. 2017). The answer then is every
model trained for the full budget (search trials run to the end, those runs, and the two
references, trained anyway) within one validation image of the best of them, at most five,
best first: a reference that validation cannot tell from the best is as good a member as a
search trial, and a new seed that came out worse than its trial is left out.
The plan's runs train in waves of the search's concurrency; once a wave adds no model to the
answer, the rest are not trained.

Why a mean and not the best model, why models within one image of the best with the
references among them, and how many: docs/answer-rule.md, rendered from the fidelity and
answer-rules benchmarks' JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # scipy.stats, which intervals imports, would cost every --help 0.6 s
    from search.stats.intervals import SeedSpread

# Under shift top-8 and all-12 means scored a little higher (0.872 / 0.876) and top-3 lower
# (0.863); without shift the larger means were worse (0.935 / 0.931). Five stays in between.
ENSEMBLE_SIZE = 5
# How many models the plan trains up to (good trials first, then new seeds of them). Rescoring
# the efficiency benchmark's nine searches (benchmarks/efficiency.json, "answer_sizes"), an
# answer of at least five instead of three scored +0.0006 on validation on average, so a
# fourth and fifth model did not change what validation sees, and cost a wave of runs.
PLAN_SIZE = 3
# A test margin whose seed spread the job could not measure (no config trained twice)
UNJUDGED = "not judged: the seed spread is unmeasured"
SEED_STRIDE = 1_000_003  # between a run's seed and its new seeds' (extra_seed)
TIE = 1e-9  # scores are means of 0/1 counts: equal ones may differ in the last bits


# What trained a model -> its role on the leaderboard.
ROLES = {
    "search": "search",
    "full_run": "member_full_run",  # a good trial ASHA stopped, trained in full
    "new_seed": "member_seed",  # a good trial's config with a new seed
    "baseline": "baseline",
    "seed_recipe": "seed_recipe",
}


@dataclass(frozen=True)
class Trial:
    """A trained model as the answer sees it: a search trial, a member's run or a reference.
    Built from a Tune result by search.tune.records; made by hand in tests."""

    trial: str  # its folder, e.g. trial_ab12cd34 (a reference's: baseline, seed_recipe)
    score: float | None  # the objective at its best epoch; None: it reported no score
    config: dict  # what it was trained with (seed and epochs included)
    complete: bool  # trained for the full budget
    kind: str = "search"  # a key of ROLES: search, or what trained it after the search
    search_trial: str = ""  # a member's run: the search trial it came from ("": itself)
    errored: bool = False  # Tune recorded an error for it
    epochs_run: int = 0
    path: str = ""  # its folder, in full (local or cloud storage)
    best: dict | None = field(default=None, compare=False)  # its best epoch's reported metrics
    checkpoint: Any = field(default=None, compare=False)  # that epoch's tune.Checkpoint
    history: Any = field(default=None, compare=False)  # every report (a DataFrame)

    @property
    def status(self) -> str:
        """complete, stopped (ASHA ended it before the budget) or error (it raised, or never
        reported a score): the one place that rule is written."""
        if self.score is None or self.errored:
            return "error"
        return "complete" if self.complete else "stopped"

    @property
    def role(self) -> str:
        return ROLES[self.kind]

    @property
    def source(self) -> str:
        """The search trial a model stands for: a member's run its trial, any other itself."""
        return self.search_trial or self.trial


@dataclass(frozen=True)
class Scored:
    """A model scored on both splits: what test_metrics.json says of it (`figures`: val,
    test, threshold, intervals, ...) and the probabilities (N, K) behind it, kept for the
    answer's mean, the curves and the verdict, never written."""

    figures: dict
    val_probs: np.ndarray
    test_probs: np.ndarray


@dataclass(frozen=True)
class Member:
    """One model of the answer: a search trial as it is, its config trained for the full
    budget (ASHA stopped it), or its config with a new seed."""

    search_trial: str
    config: dict
    kind: str  # "search", "full_run" or "new_seed"

    @property
    def needs_training(self) -> bool:
        return self.kind != "search"


def full_budget(epochs_run: int, budget: int) -> bool:
    """Whether a run trained its whole budget (complete) or ASHA ended it early (stopped): the
    rule the records, the console and the searcher's pruned trials all read from here."""
    return epochs_run >= budget


def one_image(val_labels: np.ndarray, num_classes: int) -> float:
    """The most one validation image moves balanced accuracy: one of the smallest class."""
    return 1 / (num_classes * np.bincount(val_labels, minlength=num_classes).min())


def tie_key(trial: Trial) -> tuple[str, str]:
    """What orders equal scores: the config (seed and epochs included), then the folder. Not
    the folder alone: Tune draws trial ids at random, and balanced accuracies tie often (they
    are counts over a few hundred images), so a tie broken by folder could change the plan
    and the answer between two runs of one seed."""
    return json.dumps(trial.config, sort_keys=True, default=str), trial.trial


def ranked(trials: Sequence[Trial]) -> list[Trial]:
    """The trials with a score, best first (ties: `tie_key`): the one ranking the plan,
    the answer, the leaderboard and --confirm share."""
    return sorted((t for t in trials if t.score is not None), key=lambda t: (-t.score, *tie_key(t)))


def good_trials(
    trials: Sequence[Trial], reference_scores: Sequence[float], image: float
) -> list[Trial]:
    """Trials within one validation image of the best and not below a reference by more than
    one image, best first (ties: `tie_key`). When no trial clears the references, the best
    trial alone: the report then warns that the search found nothing as good."""
    best_first = ranked(trials)
    if not best_first:
        return []
    floor = max([best_first[0].score, *reference_scores]) - image - TIE
    return [t for t in best_first if t.score >= floor] or best_first[:1]


def plan_members(
    trials: Sequence[Trial],
    reference_scores: Sequence[float],
    image: float,
    size: int = PLAN_SIZE,
) -> list[Member]:
    """The answer's members: up to `size` good trials, then new seeds of them in turn
    (`extra_seed(seed, 1)` for each one's first extra model, `extra_seed(seed, 2)` for its
    second, ...) until there are `size`."""
    good = good_trials(trials, reference_scores, image)[:size]
    members = [Member(t.trial, t.config, "search" if t.complete else "full_run") for t in good]
    for i in range(size - len(members) if good else 0):
        source = good[i % len(good)]
        seed = extra_seed(source.config["seed"], 1 + i // len(good))
        members.append(Member(source.trial, {**source.config, "seed": seed}, "new_seed"))
    return members


def extra_seed(seed: int, k: int) -> int:
    """The k-th new training seed (k >= 1) of a run of `seed`: SEED_STRIDE apart, so that the
    searches a user runs with --seed 0, 1, 2 never train the same model (with seed + k, the
    seed-0 search's second new seed was the seed-1 search's first: on one carve both answers
    were that one model)."""
    return seed + k * SEED_STRIDE


def answer_members(models: Sequence[Trial], image: float, size: int = ENSEMBLE_SIZE) -> list[Trial]:
    """The models the answer averages: those trained for the full budget within one validation
    image of the best of them, at most `size`, best first (ties: `tie_key`); empty when no
    model ran the full budget."""
    unique = {m.trial: m for m in reversed(models)}.values()  # one model, listed twice, once
    full = [m for m in ranked(list(unique)) if m.complete]
    if not full:
        return []
    floor = full[0].score - image - TIE
    return [m for m in full if m.score >= floor][:size]


def the_answer(models: Sequence[Trial], search: Sequence[Trial], image: float) -> list[Trial]:
    """`answer_members` of every model (search trials, the plan's runs, the references); when
    none ran the full budget, the best search trial alone, as it is."""
    return answer_members(models, image) or ranked(search)[:1]


def why_not_in_answer(
    models: Sequence[Trial], chosen: Sequence[Trial], image: float, size: int = ENSEMBLE_SIZE
) -> dict[str, str]:
    """Per model (trial folder): "" when it is in the answer (`chosen`), else why not, in
    the words of the answer's rule (`answer_members`)."""
    inside = {m.trial for m in chosen}
    full = [m for m in ranked(models) if m.complete]
    floor = full[0].score - image - TIE if full else None
    reasons = {}
    for m in models:
        if m.trial in inside:
            reasons[m.trial] = ""
        elif m.score is None:
            reasons[m.trial] = "no score"
        elif not m.complete:
            reasons[m.trial] = "stopped before the full budget"
        elif floor is not None and m.score < floor:
            reasons[m.trial] = "more than one validation image below the best"
        else:
            reasons[m.trial] = f"within one image, beyond the answer's {size} models"
    return reasons


def waves(runs: int, size: int) -> list[int]:
    """How many of the plan's runs train in each wave: `size` at a time, and a remainder
    smaller than `size` with the last whole wave (alone it would leave slots idle a whole run)."""
    if runs <= size:
        return [runs] if runs else []
    counts = [size] * (runs // size)
    counts[-1] += runs % size
    return counts


def wave_joined(models: Sequence[Trial], wave: set[str], image: float) -> bool:
    """Whether any model of the last wave (its trial folders) is in the answer that all the
    models so far make; when none is, the plan's later runs are not trained."""
    return any(m.trial in wave for m in answer_members(models, image))


def reached(trials: Sequence[Trial], score: float) -> int:
    """How many trials scored at least `score` on validation."""
    return sum(t.score >= score - TIE for t in ranked(trials))


def verdict(
    answer: Scored,
    references: dict[str, Scored],
    test_labels: np.ndarray,
    image: float,
    search: Sequence[Trial],
    members: int,
    metric: str = "balanced_accuracy",
    spread: SeedSpread | None = None,
) -> dict:
    """Is the answer ahead of each reference on validation by more than one image of the
    smallest validation class (`image`, the most one image moves balanced accuracy; in-sample,
    as validation chose the answer), and is it better on test? On test (two classes) also the
    margin's 95% interval, paired over the test images, and what it says: better, worse or no
    clear difference. And how many search trials reached each reference's validation `metric`
    (the objective), of how many, for a `members`-model answer.

    The test interval counts the training seeds as well as the images: the answer and a
    reference trained with other seeds score differently, by up to 0.15 under shift, so an
    interval over images alone once called a config "worse" than itself. `spread` is the
    seed spread the job's own repeated configs show (search.stats.intervals.seed_spread); without
    one, a margin is not judged better or worse."""
    from search.stats.intervals import decisions, judge, margin_interval, with_seed_spread

    found: dict[str, Any] = {"one_validation_image": image}
    found["seed_spread"] = asdict(spread) if spread else None
    a = answer.figures
    for name, scored in references.items():
        r = scored.figures
        val_margin = a["val"]["balanced_accuracy"] - r["val"]["balanced_accuracy"]
        test_margin = a["test"]["balanced_accuracy"] - r["test"]["balanced_accuracy"]
        found[name] = {
            "val_margin": val_margin,
            # in-sample: validation chose the answer's trials, members, cut and temperature,
            # so this says only whether validation can tell the two apart, never "better"
            "ahead_on_val_in_sample": bool(val_margin > image),
            "test_margin": test_margin,
            "beats_on_test": False,
        }
        if a.get("test_intervals") and r.get("test_intervals"):
            low, high = margin_interval(
                test_labels,
                decisions(answer.test_probs, a["threshold"]),
                decisions(scored.test_probs, r["threshold"]),
            )
            found[name]["test_margin_interval_images"] = [low, high]
            if spread is None:
                found[name] |= {"test_margin_interval": None, "on_test": UNJUDGED}
            else:
                low, high = with_seed_spread(test_margin, low, high, spread, members)
                found[name] |= {"test_margin_interval": [low, high], "on_test": judge(low, high)}
            found[name]["beats_on_test"] = found[name]["on_test"] == "better"
    searched = [t for t in search if t.kind == "search"]  # not the references' own trials
    found |= {"trials": len(ranked(searched)), "answer_models": members}
    for name, scored in references.items():
        found[name]["trials_reaching_it"] = reached(searched, scored.figures["val"][metric])
    return found


def average(probs: list[np.ndarray]) -> np.ndarray:
    """The members' class probabilities (N, K) each, combined by the mean of their log
    probabilities, normalised again (the softmax of the mean logit: for two classes, the
    probability of the mean of the members' logits).

    Not the mean of the probabilities: the two scored alike at the validation cut, but the mean
    of logits was what let the site-adapted cut (search/stats/adapt.py) pay off without shift
    (docs/answer-rule.md, docs/adapted-cut.md)."""
    from scipy.special import softmax

    from search.stats.calibration import FLOOR

    log_probs = np.log(np.clip(np.stack(probs), FLOOR, 1.0))
    return softmax(log_probs.mean(axis=0), axis=1)


def average_positive(scores: list[np.ndarray]) -> np.ndarray:
    """`average` of two-class members given as positive-class probabilities (N,) each."""
    return average([np.stack([1 - s, s], axis=1) for s in scores])[:, 1]
