import optuna
import pytest

from spaces import SEED_POINTS, SPACES, describe_spaces
from trainable.config import LOSS_KNOBS, SAMPLER_KNOBS, TrainConfig
from trainable.losses import LOSSES
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
    def run(seed):
        return sample(SPACES["focal"], 25, optuna.samplers.TPESampler(seed=seed))

    assert run(3) == run(3)
    assert run(3) != run(4)


@pytest.mark.parametrize("name", list(SEED_POINTS))
def test_seed_recipe_points_lie_inside_their_space(name):
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(SEED_POINTS[name])
    trial = study.ask()
    fixed = SPACES[name](trial)
    config = {**trial.params, **fixed}
    assert config["sampler"] == "oversample" and config["loss"] == "weighted_ce"
    assert all(config[k] == v for k, v in SEED_POINTS[name].items())
    TrainConfig.from_dict(config)


def test_list_spaces_names_every_knob():
    text = describe_spaces()
    assert all(f"{name}:" in text for name in SPACES)
    assert "gamma           0 .. 5" in text and "lr              0.0003 .. 0.01 (log)" in text


def test_technique_knobs_belong_to_registered_techniques_and_to_the_config():
    for knobs, registry in ((LOSS_KNOBS, LOSSES), (SAMPLER_KNOBS, SAMPLERS)):
        assert list(knobs) == list(registry)
        for ranges in knobs.values():
            for knob, (low, high) in ranges.items():
                # both ends of the range are values the trainable accepts
                TrainConfig.from_dict({knob: low})
                TrainConfig.from_dict({knob: high})
