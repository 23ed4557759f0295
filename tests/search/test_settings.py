import dataclasses

import pytest

from search.run import parse_args, settings_from
from search.settings import SearchSettings, default_epochs, default_eval_every, default_grace
from trainable.errors import UserError


def test_the_default_budget_is_images_seen_so_small_data_gets_more_epochs():
    assert default_epochs(4_708) == 10  # PneumoniaMNIST: the measured default
    assert default_epochs(500) == 94  # about as many optimiser steps on 500 images
    assert default_epochs(78_468) == 10  # never below 10 epochs
    assert default_epochs(20) == 200  # nor above 200
    assert [default_grace(e) for e in (10, 94, 3)] == [1, 9, 1]  # a tenth of the budget
    # about 10 validation passes per trial, whatever the budget
    assert [default_eval_every(e) for e in (10, 94, 200, 3)] == [1, 9, 20, 1]
    small = SearchSettings(space="focal").for_train_images(500)
    assert (small.epochs, small.grace_period, small.eval_every) == (94, 9, 9)
    given = SearchSettings(space="focal", epochs=4, grace_period=2, eval_every=1)
    given = given.for_train_images(500)
    assert (given.epochs, given.grace_period, given.eval_every) == (4, 2, 1)  # the user's stay


def test_the_command_line_and_direct_construction_agree():
    from_flags = settings_from(parse_args(["--space", "focal", "--name", "x", "--seed", "3"]))
    assert from_flags == SearchSettings(space="focal", name="x", seed=3)
    assert from_flags.metric == "val_balanced_accuracy"
    # every flag's default is the field's default: one place says what the default is
    bare = settings_from(parse_args(["--space", "focal", "--name", "x"]))
    given = {"space": "focal", "name": "x"}
    for field in dataclasses.fields(SearchSettings):
        assert getattr(bare, field.name) == given.get(field.name, field.default)


def test_a_name_is_made_when_none_is_given_and_paths_follow_it(tmp_path):
    settings = SearchSettings(space="weighted", storage=str(tmp_path))
    assert settings.name.startswith("weighted-")
    assert settings.report_dir == tmp_path / settings.name
    assert settings.tune_path == f"{tmp_path}/{settings.name}"
    cloud = SearchSettings(space="weighted", name="n", storage="s3://bucket/runs/")
    assert cloud.tune_path == "s3://bucket/runs/n" and cloud.report_dir.name == "n"


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"space": "fancy"}, "unknown space 'fancy'"),
        ({"space": "focal", "sampler": "grid"}, "--sampler must be one of tpe, random"),
        ({"space": "focal", "objective": "auc"}, "--objective must be one of val, robust"),
        ({"space": "focal", "objective": "spec@sens=1.5"}, "spec@sens=L with 0 < L < 1"),
        ({"space": "focal", "objective": "spec@sens=high"}, "spec@sens=L with 0 < L < 1"),
        ({"space": "focal", "epochs": 0}, "--epochs must be at least 1"),
        ({"space": "focal", "epochs": 1001}, "--epochs must be at most 1000"),
        ({"space": "focal", "epochs": 2, "grace_period": 3}, "exceeds --epochs"),
        ({"space": "focal", "resume": True}, "--resume needs --name"),
        ({"space": "focal", "seed": -1}, "--seed must be in"),
        ({"space": "focal", "seed": 2**32 - 3}, "--seed must be in"),  # its confirm seeds
        ({"space": "focal", "name": "a/b"}, "must be a plain folder name"),
        ({"space": "focal", "name": ".."}, "must be a plain folder name"),
        ({"space": "focal", "name": "a\0b"}, "must be a plain folder name"),  # pyarrow's error
        ({"space": "focal", "name": "x" * 256}, "256 bytes long; a folder name holds at most 255"),
        ({"space": "focal", "storage": "r\0"}, "--storage .* holds a NUL character"),
    ],
)
def test_bad_settings_are_refused_when_built(knobs, message):
    with pytest.raises(UserError, match=message):
        SearchSettings(**knobs)


def test_a_clinical_operating_point_is_an_objective_at_any_sensitivity():
    screening = SearchSettings(space="focal", objective="spec@sens=0.95")
    assert screening.metric == "val_specificity_at_sensitivity_0.95"
    assert screening.sensitivity_levels == (0.90, 0.95, 0.99)  # the report's levels
    odd = SearchSettings(space="focal", objective="spec@sens=0.975")
    assert odd.metric == "val_specificity_at_sensitivity_0.975"
    assert odd.sensitivity_levels == (0.90, 0.95, 0.99, 0.975)  # trials report it too
