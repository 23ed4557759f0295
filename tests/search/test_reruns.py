"""Reference configs and how a trained one is recognised."""

import pytest

from search.reruns import reference_configs, reference_role


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
