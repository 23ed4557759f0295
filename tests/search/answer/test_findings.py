"""The technique finding: every model named by its technique, each family's best, the sentence
that says which helped, and the answer named for what it is. On hand-made records."""

from search.answer.findings import (
    PLAIN,
    Family,
    answer_words,
    augmentation,
    family_bests,
    finding_sentence,
    technique,
)
from search.answer.rules import Trial

FULL_BASELINE = {"loss": "ce", "sampler": "none", "aug_strength": 0.0, "minority_aug": 0.0}
RECIPE = {"loss": "weighted_ce", "weight_power": 0.5, "sampler": "oversample",
          "sampler_power": 0.5, "aug_strength": 0.25, "minority_aug": 0.0}  # fmt: skip


def test_a_config_is_named_by_what_it_does_not_by_its_knob_names():
    assert technique(FULL_BASELINE) == PLAIN
    # focal loss with gamma 0 and alpha 0.5 is plain cross-entropy; another alpha weighs classes
    assert technique({"loss": "focal", "gamma": 0.0, "alpha": 0.5, "sampler": "none"}) == PLAIN
    weighted = {"loss": "focal", "gamma": 0.0, "alpha": 0.63, "sampler": "oversample",
                "sampler_power": 0.5}  # fmt: skip
    assert technique(weighted) == "oversampling + class-weighted cross-entropy"
    assert technique(RECIPE) == "oversampling + class-weighted cross-entropy"
    assert technique({"loss": "focal", "gamma": 2.0, "sampler": "smote"}) == "SMOTE + focal loss"
    assert technique({"loss": "ce", "sampler": "oversample", "sampler_power": 0.0}) == PLAIN
    assert augmentation(FULL_BASELINE) == "augmentation off"
    assert augmentation(RECIPE) == "augmentation on"
    assert augmentation({**RECIPE, "mixup": 0.2}) == "mixup"


def test_each_family_keeps_its_best_model_and_its_count():
    models = [
        Trial("plain", 0.95, FULL_BASELINE, True, "baseline"),
        Trial("recipe", 0.97, RECIPE, True, "seed_recipe"),
        Trial("t1", 0.96, {**RECIPE, "lr": 0.01}, True),
        Trial("t2", 0.90, {"loss": "focal", "gamma": 2.0, "sampler": "undersample"}, False),
        Trial("t3", None, {"loss": "ce", "sampler": "smote"}, False),  # never scored
    ]
    bests = family_bests(models)
    oversampled = bests["technique"]["oversampling + class-weighted cross-entropy"]
    assert oversampled[0].trial == "recipe" and oversampled[1] == 2
    # a family is judged by a full-budget model where it has one, though a stopped one led
    stopped_first = [Trial("early", 0.99, RECIPE, False), Trial("full", 0.95, RECIPE, True)]
    assert (
        family_bests([*stopped_first, models[0]])["technique"][
            "oversampling + class-weighted cross-entropy"
        ][0].trial
        == "full"
    )
    assert bests["technique"][PLAIN][0].trial == "plain"
    assert "SMOTE + cross-entropy" not in bests["technique"]
    assert set(bests["augmentation"]) == {"augmentation on", "augmentation off"}
    # an axis the models do not vary on says nothing and is left out
    assert "augmentation" not in family_bests(models[1:3])


def family(name: str, val: float, vs_plain, vs_recipe=None, test=0.9) -> Family:
    return Family("technique", name, 3, "trial_x", True, val, test, vs_plain, vs_recipe)


def test_the_sentence_names_the_family_whose_interval_clears_plain_training():
    found = [
        family("oversampling + focal loss", 0.97, [0.03, 0.01, 0.05], [0.0, -0.01, 0.01]),
        family("SMOTE + cross-entropy", 0.98, [0.04, -0.01, 0.09]),  # higher, but unsure
    ]
    sentence = finding_sentence(found, plain_test=0.85)
    assert sentence.startswith("oversampling + focal loss helps most on this data")
    assert "+0.0300 over plain training (95% interval +0.0100 to +0.0500)" in sentence
    assert "on test 0.9000 against plain training's 0.8500" in sentence
    assert "cannot be told apart from the seed recipe" in sentence


def test_the_sentence_says_so_when_no_family_beats_plain_training():
    found = [family("undersampling + cross-entropy", 0.96, [-0.01, -0.03, 0.01])]
    sentence = finding_sentence(found, plain_test=None)
    assert sentence.startswith("No technique can be told apart from plain training")
    assert "on test" not in sentence


def test_an_answer_of_a_reference_config_says_so():
    points = {"baseline": {**FULL_BASELINE, "lr": 0.003}, "seed_recipe": {**RECIPE, "lr": 0.003}}
    recipe = {**RECIPE, "lr": 0.003}
    seeds = [("seed_recipe", {**recipe, "seed": 0}), ("new_seed", {**recipe, "seed": 1}),
             ("new_seed", {**recipe, "seed": 2})]  # fmt: skip
    words = answer_words(seeds, points)
    assert words.startswith("The answer is the seed recipe's config, 3 seeds of it")
    searched = {"loss": "focal", "gamma": 2.0, "sampler": "none", "lr": 0.01}
    mixed = answer_words([("baseline", points["baseline"]), ("search", searched)], points)
    assert mixed == (
        "The answer holds 1 of the plain baseline's config, "
        "1 searched config (natural sampling + focal loss)."
    )
    # two configs of one technique: the technique said once
    other = {**searched, "gamma": 3.0}
    both = answer_words([("search", searched), ("search", other)], points)
    assert both == "The answer holds 2 searched configs, each natural sampling + focal loss."
    # a searched config and its new seed: one config, two seeds
    twice = answer_words(
        [("search", {**searched, "seed": 0}), ("new_seed", {**searched, "seed": 1})], points
    )
    assert twice == "The answer holds 1 searched config (natural sampling + focal loss, 2 seeds)."
