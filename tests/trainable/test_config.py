import pytest

from trainable.config import SEED_RECIPE, TrainConfig, UserError, same_names


def test_defaults_and_round_trip():
    cfg = TrainConfig.from_dict({})
    assert cfg == TrainConfig()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict(SEED_RECIPE).sampler == "oversample"


def test_json_ints_become_floats_and_overrides_win():
    cfg = TrainConfig.from_json('{"gamma": 2, "epochs": 3}', {"epochs": 5})
    assert cfg.gamma == 2.0 and isinstance(cfg.gamma, float) and cfg.epochs == 5


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"lossy": "ce"}, "unknown config key"),
        ({"loss": "hinge"}, "loss must be one of"),
        ({"sampler": "smote-tomek"}, "sampler must be one of"),
        ({"sampler_power": 1.5}, r"sampler_power must be in \[0.0, 1.0\]"),
        ({"aug_strength": -0.1}, "aug_strength must be in"),
        ({"lr": 0}, "lr must be in"),
        ({"batch_size": 32.5}, "batch_size' must be int"),
        ({"epochs": True}, "epochs' must be int"),
        ({"lr": True}, "lr' must be float"),  # was taken as a learning rate of 1.0
        ({"alpha": False}, "alpha' must be float"),
        ({"compile": "yes"}, "compile' must be bool"),
        ({"alpha": 1.0}, "alpha must be in"),
        ({"weights": "w.pt"}, "only for model 'resnet18'"),
        ({"seed": -1}, "seed must be in"),
        ({"seed": 2**32}, "seed must be in"),
    ],
)
def test_bad_knobs_are_refused_by_name(raw, message):
    with pytest.raises(UserError, match=message):
        TrainConfig.from_dict(raw)


def test_bad_json_is_one_line():
    with pytest.raises(UserError, match="not valid JSON"):
        TrainConfig.from_json("{loss: focal}")
    with pytest.raises(UserError, match="must be a JSON object"):
        TrainConfig.from_json("[1, 2]")


def test_a_technique_outside_the_registry_is_refused_naming_every_registered_one():
    from trainable.losses import LOSSES
    from trainable.models import MODELS
    from trainable.sampling import SAMPLERS

    for knob, registry in (("loss", LOSSES), ("sampler", SAMPLERS), ("model", MODELS)):
        with pytest.raises(UserError) as refused:
            TrainConfig.from_dict({knob: "no_such_technique"})
        message = str(refused.value)
        assert message.startswith(f"{knob} must be one of") and "'no_such_technique'" in message
        assert all(name in message for name in registry)


def test_a_builder_table_that_misses_a_technique_refuses_to_import():
    same_names("loss", {"ce": None, "focal": None}, ["ce", "focal"])
    with pytest.raises(TypeError, match=r"loss builders \['ce'\] differ"):
        same_names("loss", {"ce": None}, ["ce", "focal"])


def test_a_config_built_directly_or_replaced_is_validated_too():
    import dataclasses

    with pytest.raises(UserError, match=r"gamma must be in \[0.0, 10.0\]; got -1"):
        TrainConfig(gamma=-1)
    with pytest.raises(UserError, match="lr must be in"):
        dataclasses.replace(TrainConfig(), lr=5.0)
    assert TrainConfig(alpha=None).alpha is None  # an optional knob may be left out
