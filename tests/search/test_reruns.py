"""Reference and confirm configs, and how a trained one is recognised by its config."""

from itertools import pairwise
from types import SimpleNamespace

import pytest

from search.reruns import rank_of, reference_configs, reference_dirname, reference_role
from trainable.config import TrainConfig


def test_a_reference_is_recognised_by_its_knobs_in_any_order():
    refs = reference_configs(epochs=4, seed=2)
    assert list(refs) == ["baseline", "seed_recipe"]
    # a restored result grid may hand the trials back in another order
    for name, config in reversed(list(refs.items())):
        assert reference_role(dict(config), refs) == name
    assert refs["baseline"]["aug_strength"] == 0.0
    assert refs["seed_recipe"]["sampler"] == "oversample"
    # and its folder is named for it: TensorBoard's run references/seed_recipe
    run = SimpleNamespace(config=dict(refs["seed_recipe"]), trial_id="9cbce_00001")
    assert reference_dirname(run, references=refs) == "seed_recipe"


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


@pytest.mark.integration  # Ray
def test_reruns_train_no_more_at_once_than_asked(tmp_path):
    import pandas as pd
    import ray
    from ray import tune

    from search.reruns import run_configs
    from trainable.data import load_data
    from trainable.ray_trainable import train_trial

    configs = [TrainConfig(epochs=2, seed=s).to_dict() for s in range(3)]
    train = tune.with_parameters(train_trial, data=load_data("synthetic"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        trainable = tune.with_resources(train, {"cpu": 0.5})  # room for four at once
        run_configs(trainable, configs, str(tmp_path), "one", "val_balanced_accuracy", 1)
    finally:
        ray.shutdown()
    spans = []
    for progress in (tmp_path / "one").glob("trial_*/progress.csv"):
        history = pd.read_csv(progress)
        start = history["timestamp"].iloc[0] - history["time_this_iter_s"].iloc[0]
        spans.append((start, history["timestamp"].iloc[-1]))
    assert len(spans) == 3
    spans.sort()
    assert all(a[1] <= b[0] + 1 for a, b in pairwise(spans)), spans  # one after another
