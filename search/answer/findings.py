"""Which imbalance technique worked on this data, and by how much: said first.

    bests = family_bests(models)         # per axis, per family: its best model and count
    words = answer_words([(kind, config), ...], start_points)   # what the answer's configs are
    found = technique_finding(families, plain_test, words)      # families: Family records

Every trained model belongs to one technique family (the sampler and the loss, read off its
config, so focal loss with gamma 0 and alpha 0.5 is plain cross-entropy) and to one
augmentation level. Per family: how many trials, its best validation score, that model
against plain training (the baseline reference) and against the seed recipe on validation,
paired over the validation images, and its test figure, reported and never used to choose.
Validation chose each family's best, so its validation figures flatter it (the more trials,
the more); the sentence says so.

Pure over plain figures: search.answer.report scores the models and puts what this returns in
the report; search.outputs.report writes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from search.answer.rules import Trial, ranked
from trainable.config import TrainConfig

PLAIN = "natural sampling + cross-entropy"


def loss_word(config: dict) -> str:
    """The loss as a technique: weights that are all equal are plain cross-entropy."""
    loss = config.get("loss", "ce")
    if loss == "focal" and config.get("gamma", 0.0) > 0:
        return "focal loss"
    plain = (
        loss == "ce"
        or (loss == "weighted_ce" and config.get("weight_power") == 0)
        or (loss == "focal" and config.get("alpha") in (None, 0.5))
    )
    return "cross-entropy" if plain else "class-weighted cross-entropy"


def sampler_word(config: dict) -> str:
    sampler = config.get("sampler", "none")
    if sampler == "none" or (sampler == "oversample" and config.get("sampler_power") == 0):
        return "natural sampling"
    return {
        "oversample": "oversampling",
        "undersample": "undersampling",
        "smote": "SMOTE",
        "smote_tomek": "SMOTE-Tomek",
    }.get(sampler, sampler)


def technique(config: dict) -> str:
    return f"{sampler_word(config)} + {loss_word(config)}"


def augmentation(config: dict) -> str:
    if config.get("mixup", 0.0) > 0:
        return "mixup"
    on = config.get("aug_strength", 0.0) > 0 or config.get("minority_aug", 0.0) > 0
    return "augmentation on" if on else "augmentation off"


AXES: dict[str, Callable[[dict], str]] = {"technique": technique, "augmentation": augmentation}


def full(config: dict) -> dict:
    """Every knob of a config: a search trial records only what its space set, and a knob it
    left out is at its default (augmentation 0.25, not 0)."""
    return TrainConfig.from_dict(config).to_dict()


def family_bests(models: Sequence[Trial]) -> dict[str, dict[str, tuple[Trial, int]]]:
    """Per axis, per family the models fall in: its best model by validation score, among
    those trained for the full budget where it has any (a trial ASHA stopped after a tenth
    of the budget says little of its family), and how many of `models` it holds. An axis on
    which every model is alike is left out."""
    found: dict[str, dict[str, tuple[Trial, int]]] = {}
    for axis, family_of in AXES.items():
        groups: dict[str, list[Trial]] = {}
        for model in ranked(models):
            groups.setdefault(family_of(full(model.config)), []).append(model)
        if len(groups) > 1:
            found[axis] = {
                name: (next((m for m in group if m.complete), group[0]), len(group))
                for name, group in groups.items()
            }
    return found


@dataclass(frozen=True)
class Family:
    """A family's figures: its best model's validation balanced accuracy, that against plain
    training's and the seed recipe's ([margin, low, high], 95%, paired over validation
    images; None without that reference) and its test balanced accuracy."""

    axis: str
    name: str
    trials: int
    best: str  # the trial folder of its best model
    complete: bool  # that model ran the full budget (else ASHA stopped every one of them)
    val: float
    test: float | None
    vs_plain: list[float] | None
    vs_recipe: list[float] | None


def clear(margin: list[float] | None) -> bool:
    """Whether a [margin, low, high] interval lies above zero."""
    return margin is not None and margin[1] > 0


def technique_finding(
    families: Sequence[Family],
    plain_test: float | None,
    answer_is: str,
) -> dict:
    """The finding test_metrics.json holds: the families, what the answer is, and one
    sentence: which technique helps most on this data and by how much, or that none can be
    told apart from plain training (or from the seed recipe)."""
    techniques = [f for f in families if f.axis == "technique" and f.name != PLAIN and f.complete]
    return {
        "sentence": finding_sentence(techniques, plain_test),
        "answer_is": answer_is,
        "families": [asdict(f) for f in families],
        "validation_note": "each family's best was chosen on validation: its validation figures "
        "are in-sample",
    }


def finding_sentence(techniques: Sequence[Family], plain_test: float | None) -> str:
    if not techniques:
        return "The search trained no imbalance technique for the full budget."
    helping = [f for f in techniques if clear(f.vs_plain)]
    best = max(helping or techniques, key=lambda f: f.val)
    if best.vs_plain is None:
        return (
            f"The best technique on validation was {best.name} ({best.val:.4f}); plain "
            "training was not scored, so nothing is said of what it adds."
        )
    margin, low, high = best.vs_plain
    shown = f"{margin:+.4f} over plain training (95% interval {low:+.4f} to {high:+.4f})"
    test = ""
    if best.test is not None and plain_test is not None:
        test = f"; on test {best.test:.4f} against plain training's {plain_test:.4f} (reported, "
        test += "not used to choose)"
    if helping:
        sentence = f"{best.name} helps most on this data: validation {shown}{test}."
    else:
        sentence = (
            f"No technique can be told apart from plain training on validation: the best, "
            f"{best.name}, {shown}{test}."
        )
    if best.vs_recipe is not None and not clear(best.vs_recipe):
        m, lo, hi = best.vs_recipe
        sentence += (
            f" It cannot be told apart from the seed recipe ({m:+.4f}, 95% interval {lo:+.4f} "
            f"to {hi:+.4f})."
        )
    return sentence + " Validation chose each family's best: its figures flatter it."


def answer_words(members: Sequence[tuple[str, dict]], points: dict[str, dict]) -> str:
    """What the answer's configs are, in words: a reference's config (a start point of the
    search that is that reference) named as such. `members`: (kind, config) per model;
    `points`: each reference's config as the search wrote it (spaces.catalog.named_start_points)."""
    from spaces.catalog import is_point

    def label(kind: str, config: dict) -> str:
        if kind in ("baseline", "seed_recipe"):
            return kind
        for name, point in points.items():
            if is_point(config, point):
                return name
        return "search"

    labels = [label(kind, config) for kind, config in members]
    named = {"baseline": "the plain baseline's", "seed_recipe": "the seed recipe's"}
    if len(set(labels)) == 1 and labels[0] != "search":
        seeds = f", {len(labels)} seeds of it" if len(labels) > 1 else ""
        return (
            f"The answer is {named[labels[0]]} config{seeds}: a reference, the search's own "
            "start point; no searched config came within one validation image of it."
        )
    parts = [f"{labels.count(name)} of {named[name]} config" for name in named if name in labels]
    searched: dict[str, list[dict]] = {}  # one config, however many seeds of it
    for (_, config), lab in zip(members, labels, strict=True):
        if lab == "search":
            unseeded = {k: v for k, v in full(config).items() if k != "seed"}
            key = json.dumps(unseeded, sort_keys=True, default=str)
            searched.setdefault(key, []).append(config)
    if searched:
        described = [
            technique(full(runs[0])) + (f", {len(runs)} seeds" if len(runs) > 1 else "")
            for runs in searched.values()
        ]
        if len(searched) == 1:
            parts.append(f"1 searched config ({described[0]})")
        elif len(set(described)) == 1:  # two configs of one technique: say it once
            parts.append(f"{len(searched)} searched configs, each {described[0]}")
        else:
            parts.append(f"{len(searched)} searched configs ({'; '.join(described)})")
    return f"The answer holds {', '.join(parts)}."
