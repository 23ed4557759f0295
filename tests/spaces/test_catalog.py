import numpy as np
import optuna
import pytest
import torch

from search.settings import SEARCH_SAMPLERS
from spaces import SPACES, describe_spaces, reference_start_points, start_points
from spaces.catalog import recipe_alpha
from trainable.config import (
    BASELINE,
    KNOB_FIELDS,
    LOSS_KNOBS,
    SAMPLER_KNOBS,
    SEED_RECIPE,
    TrainConfig,
    search_range,
)
from trainable.losses import LOSSES, make_loss
from trainable.sampling import SAMPLERS

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sample(space, n: int, sampler: optuna.samplers.BaseSampler) -> list[dict]:
    """Configs a space yields, told a made-up score so TPE moves past its startup trials."""
    study = optuna.create_study(direction="maximize", sampler=sampler)
    configs = []
    for i in range(n):
        trial = study.ask()
        fixed = space(trial)
        configs.append({**trial.params, **fixed})
        study.tell(trial, (i * 37 % 11) / 11)
    return configs


@pytest.mark.parametrize("name", list(SPACES))
def test_every_sampled_config_is_valid_for_the_trainable(name):
    for config in sample(SPACES[name], 150, optuna.samplers.RandomSampler(seed=1)):
        cfg = TrainConfig.from_dict(config)  # raises on an unknown or out-of-range knob
        # conditionals: a knob appears only where it matters
        assert ("gamma" in config) == (cfg.loss == "focal" and name in ("focal", "full"))
        assert ("sampler_power" in config) == (cfg.sampler == "oversample")
        assert ("weight_power" in config) == (cfg.loss == "weighted_ce")


def test_spaces_explore_what_they_promise():
    full = sample(SPACES["full"], 150, optuna.samplers.RandomSampler(seed=0))
    assert {c["loss"] for c in full} == set(LOSSES)  # every registered technique
    assert {c["sampler"] for c in full} == set(SAMPLERS)
    baseline = sample(SPACES["baseline"], 20, optuna.samplers.RandomSampler(seed=0))
    assert all(c["loss"] == "ce" and c["sampler"] == "none" for c in baseline)


def test_same_seed_same_configs_from_tpe():
    def run(seed):  # the search's own sampler: multivariate, grouped, 5 start-up trials
        return sample(SPACES["focal"], 25, SEARCH_SAMPLERS["tpe"](seed=seed))

    assert run(3) == run(3)
    assert run(3) != run(4)


PNEUMONIAMNIST_TRAIN = [1214, 3494]  # normal, pneumonia


def start_configs(name: str) -> list[TrainConfig]:
    """The space's start points as the space itself turns them into configs."""
    configs = []
    for point in start_points(name, PNEUMONIAMNIST_TRAIN):
        study = optuna.create_study(direction="maximize")
        study.enqueue_trial(point)
        trial = study.ask()
        fixed = SPACES[name](trial)
        assert trial.params == point  # every knob of the point is one the space asks for
        configs.append(TrainConfig.from_dict({**trial.params, **fixed}))
    return configs


@pytest.mark.parametrize("name", list(SPACES))
def test_start_points_are_the_references_where_the_space_holds_them(name):
    baseline = TrainConfig.from_dict(BASELINE)
    recipe = TrainConfig.from_dict(SEED_RECIPE)
    configs = start_configs(name)
    expected = {
        "baseline": [baseline],
        "weighted": [recipe],
        "sampler": [],
        "augment": [baseline],
        "full": [baseline, recipe],
    }
    if name in expected:
        assert configs == expected[name]
    else:  # focal: the references as focal loss with gamma 0, checked numerically below
        ce, weighted = configs
        assert (ce.gamma, ce.alpha, ce.sampler, ce.aug_strength) == (0.0, 0.5, "none", 0.0)
        assert (weighted.gamma, weighted.sampler, weighted.sampler_power) == (0, "oversample", 0.5)
        assert weighted.aug_strength == recipe.aug_strength


def test_focal_start_points_compute_the_references_losses():
    ce, weighted = start_configs("focal")
    counts = np.array(PNEUMONIAMNIST_TRAIN)
    logits = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 2, (256,), generator=torch.Generator().manual_seed(1))
    device = torch.device("cpu")
    reference = TrainConfig.from_dict(SEED_RECIPE)

    def loss(cfg: TrainConfig) -> float:
        return float(make_loss(cfg, counts, device)(logits, labels))

    assert loss(ce) == pytest.approx(loss(TrainConfig.from_dict(BASELINE)), rel=1e-6)
    assert loss(weighted) == pytest.approx(loss(reference), rel=1e-6)  # alpha not rounded


def test_a_start_point_is_the_reference_only_while_the_space_writes_it_exactly():
    assert set(reference_start_points("focal", PNEUMONIAMNIST_TRAIN)) == {"baseline", "seed_recipe"}
    assert set(reference_start_points("sampler", PNEUMONIAMNIST_TRAIN)) == set()
    # at 1:100 the recipe's alpha (0.909) is past the focal space's 0.9: a start point still,
    # but not the recipe, which the job then trains itself
    assert len(start_points("focal", [35, 3494])) == 2
    assert set(reference_start_points("focal", [35, 3494])) == {"baseline"}
    assert set(reference_start_points("full", [35, 3494])) == {"baseline", "seed_recipe"}
    # three classes: one alpha cannot weigh each class as the recipe does
    assert set(reference_start_points("focal", [100, 50, 10])) == {"baseline"}


def test_recipe_alpha_follows_the_class_counts_and_stays_in_range():
    assert recipe_alpha([1214, 3494]) == pytest.approx(0.6291, abs=1e-4)
    assert recipe_alpha([3494, 1214]) == recipe_alpha([1214, 3494])  # the smaller class gets it
    assert recipe_alpha([500, 500]) == 0.5
    assert recipe_alpha([1, 10_000]) == 0.9  # the focal space's upper end


def test_list_spaces_names_every_knob():
    text = describe_spaces()
    assert all(f"{name}:" in text for name in SPACES)
    assert "gamma           0 .. 5" in text and "lr              0.0003 .. 0.01 (log)" in text


@pytest.mark.parametrize("knob", [f.name for f in KNOB_FIELDS.values() if "search" in f.metadata])
def test_both_ends_of_every_search_range_are_valid_configs(knob):
    where = search_range(knob)
    for value in where if isinstance(where, list) else (where[0], where[1]):
        TrainConfig.from_dict({knob: value})  # what the spaces draw, the trainable accepts


def test_every_technique_knob_has_a_search_range():
    for knobs in (*LOSS_KNOBS.values(), *SAMPLER_KNOBS.values()):
        for knob in knobs:
            low, high = search_range(knob)
            assert low < high
