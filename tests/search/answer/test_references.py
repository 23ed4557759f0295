"""The reference and confirm configs, and how a trained run is recognised by its config."""

import pytest

from search.answer.references import rank_of, reference_configs, reference_role
from trainable.config import TrainConfig


def test_a_reference_is_recognised_by_its_knobs_in_any_order():
    refs = reference_configs(epochs=4, seed=2)
    assert list(refs) == ["baseline", "seed_recipe"]
    # a restored result grid may hand the trials back in another order
    for name, config in reversed(list(refs.items())):
        assert reference_role(dict(config), refs) == name
    assert refs["baseline"]["aug_strength"] == 0.0
    assert refs["seed_recipe"]["sampler"] == "oversample"


def test_a_config_that_is_no_reference_is_refused():
    refs = reference_configs(epochs=4, seed=2)
    with pytest.raises(ValueError, match="matches no reference"):
        reference_role({**refs["baseline"], "seed": 3}, refs)


def test_a_confirm_run_is_matched_to_its_rank_by_config_and_seed():
    first = TrainConfig(loss="focal", gamma=1.0, seed=1).to_dict()
    second = TrainConfig(loss="weighted_ce", seed=1).to_dict()
    ranks = {1: [first, {**first, "seed": 2}], 2: [second, {**second, "seed": 2}]}
    # a result grid hands runs back in any order, with Tune's own keys filled in
    assert rank_of({**second, "seed": 2}, ranks) == 2
    assert rank_of(dict(reversed(list(first.items()))), ranks) == 1
    with pytest.raises(ValueError, match="matches no confirm rank"):
        rank_of({**first, "seed": 9}, ranks)


def test_a_reference_trained_before_a_knob_existed_is_still_recognised():
    # e.g. an experiment made before `mixup` existed, reported again by --resume after it did
    refs = reference_configs(epochs=3, seed=0)
    recorded = {k: v for k, v in refs["seed_recipe"].items() if k != "mixup"}
    assert reference_role(recorded, refs) == "seed_recipe"
